//! Builds the core from the global options: the store directory, the secret
//! store (OS keyring or a 0600 file), the state file, the HTTP client (with
//! an extra trusted root), the backends, the manager and the authenticator;
//! and says what the stores need the user to know.
//!
//! Guarantees: a store that cannot be opened is an error (exit 7), never an
//! empty store; tokens go only to the chosen secret store (see `secrets.rs`
//! for which), and to the store directory's refresh journals only when that
//! store is the file in the same directory; the store directory is created
//! private (0700 on Unix), and it and every file the CLI keeps in it are
//! checked before anything is read (see `permissions.rs`).
//!
//! Several commands may run at once over one store directory (`make -j`,
//! `xargs -P`): the manager shares it with them through its lock files
//! (DESIGN.md invariant 14). Each write is applied on top of what the others
//! stored, under a short commit lock; a refresh happens under the server's
//! refresh lease, so parallel `token` calls for one server make exactly one
//! refresh between them, and calls for different servers do not wait for
//! each other.
//!
//! Opening saves what an earlier command could not (a state kept in a
//! refresh journal while the disk was full) and prints one `warning:` line
//! per thing the stores repaired or recovered. A command that ends with a
//! state the stores refused fails with exit 7 ([`App::settle`]), saying
//! where that state is kept and what the next command will find.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use authstate::http::HttpConfig;
use authstate::storage::{FileStore, KeyValueStore, SecretStore, StoreNotice};
use authstate::{Authenticator, ManagerConfig, ServerManager, ServerSession, SessionState, StateKind};

use crate::cli::{GlobalArgs, SecretsBackend};
use crate::exit::{CliError, Exit};
use crate::network::{LazyRefreshers, Network};
use crate::output::say;
use crate::permissions;
use crate::secrets;

/// The keyring service name for the default store directory; another store
/// directory gets `authstate-cli:<its absolute path>`, so two directories
/// never share (or delete) each other's tokens.
pub const KEYRING_SERVICE: &str = "authstate-cli";

/// Everything a command needs, opened from the global options.
pub struct App {
    /// The servers and their sessions.
    pub manager: ServerManager,
    /// Sign-in, sign-out and device-session calls, built with the HTTP
    /// client on first use ([`auth`](Self::auth)).
    auth: OnceLock<Authenticator>,
    /// The HTTP client and backends, built when first needed.
    network: Arc<Network>,
    /// The store directory (also the manager's lock directory).
    pub dir: StoreDir,
    /// Where tokens are kept.
    pub backend: SecretsBackend,
    /// What the manager was opened with: opened again, it shows what the
    /// next command will find.
    config: ManagerConfig,
}

impl App {
    /// Opens the stores and the manager over them, shared with any other
    /// command using the same store directory; saves what an earlier command
    /// could not, and prints what the stores repaired or recovered.
    pub fn open(global: &GlobalArgs) -> Result<Self, CliError> {
        let dir = StoreDir::open(global)?;
        permissions::check_store_files(&dir.path)?;
        let kv: Arc<dyn KeyValueStore> = Arc::new(FileStore::open(dir.path.join("state.json"))?);
        let backend = secrets::chosen(global, &dir.path)?;
        let secrets = secret_store(backend, &dir)?;
        let network = Network::new(http_config(global)?)?;
        let config = ManagerConfig::new(secrets, kv)
            .with_refreshers(Arc::new(LazyRefreshers(Arc::clone(&network))))
            .with_lock_dir(&dir.path)
            // The journal may hold tokens only where it is as private as the
            // secret store: next to secrets.json, never beside a keyring.
            .with_tokens_in_lock_dir(backend == SecretsBackend::File);
        let manager = ServerManager::open(config.clone())?;
        // A state an earlier command could not save (kept in a journal) is saved now if it can be.
        manager.catch_up();
        let app = Self { manager, auth: OnceLock::new(), network, dir, backend, config };
        app.report_restore();
        Ok(app)
    }

    /// Sign-in, sign-out and device-session calls; builds the HTTP client
    /// the first time.
    pub fn auth(&self) -> Result<&Authenticator, CliError> {
        if let Some(auth) = self.auth.get() {
            return Ok(auth);
        }
        let backends = Arc::new(self.network.backends()?.clone());
        Ok(self.auth.get_or_init(|| Authenticator::new(self.manager.clone(), backends)))
    }

    /// The session of `alias`, or "unknown server" (exit 3).
    pub fn session(&self, alias: &str) -> Result<Arc<ServerSession>, CliError> {
        self.manager.session(alias).ok_or_else(|| CliError::unknown_server(alias))
    }

    /// Ends a command about `alias` (if any): prints what the stores
    /// repaired meanwhile, and turns a state of `alias` that the stores
    /// refused into exit 7 with [`pending_error`](Self::pending_error) (the
    /// command's own output, such as the token, is already printed). An
    /// earlier failure stays the answer, unless it was that same storage
    /// failure, which the pending error describes better.
    pub fn settle(&self, alias: Option<&str>, result: Result<(), CliError>) -> Result<(), CliError> {
        for notice in self.manager.store_notices() {
            say(&notice_text(&notice));
        }
        let pending = alias.and_then(|a| self.manager.session(a)).is_some_and(|s| s.persistence_pending());
        match (alias, result) {
            (Some(alias), Ok(())) if pending => Err(self.pending_error(alias, None)),
            (Some(alias), Err(e)) if pending && e.exit() == Exit::Storage => Err(self.pending_error(alias, None)),
            (_, result) => result,
        }
    }

    /// Exit 7 for a session whose state the stores refused: what could not
    /// be saved (`headline`, else said from the state), why when the file
    /// system tells, and, as the hint, what the next command will find —
    /// looked up by opening the stores again as that command will.
    pub fn pending_error(&self, alias: &str, headline: Option<&str>) -> CliError {
        let state = self.manager.session(alias).map_or(StateKind::NoSession, |s| s.state_kind());
        let why = file_system_note(&self.dir.path).map(|n| format!(" ({n})")).unwrap_or_default();
        let journal = self.journal_path(alias);
        let journal = journal.display();
        let next = self.next_view(alias);
        let secrets = self.secrets_location();
        if state == StateKind::NoSession {
            let message = format!(
                "{}{why}; its old tokens are still in {secrets}",
                headline.unwrap_or("signed out here, but the store could not record it")
            );
            let hint = match next {
                Some((SessionState::NoSession, true)) => format!(
                    "the sign-out is kept in the refresh journal {journal}, so the next commands find {alias} signed out; \
                     the first one that can write removes the tokens"
                ),
                Some((SessionState::NoSession, false)) => {
                    "the next command finds it signed out and removes the tokens if it can".to_owned()
                }
                _ => format!(
                    "the next command will still find the session: run `authstate logout {alias}` again once the store can be written"
                ),
            };
            return CliError::storage(message).for_server(alias).with_hint(hint);
        }
        if state == StateKind::Expired {
            let message =
                format!("{}{why}", headline.unwrap_or("the session expired, and the store could not record it"));
            return CliError::storage(message).for_server(alias).with_hint(format!("run `authstate login {alias}`"));
        }
        let held = self.manager.session(alias).and_then(|s| s.state().tokens().map(|t| t.access.clone()));
        let message = format!("{}{why}", headline.unwrap_or("the new tokens could not be saved"));
        let kept = match next {
            Some((next, from_journal)) if next.tokens().map(|t| &t.access) == held.as_ref() => Some(from_journal),
            _ => None,
        };
        let hint = match kept {
            Some(true) => format!(
                "the new tokens are in use and kept in the refresh journal {journal}; \
                 the next authstate command saves them once the store can take them"
            ),
            Some(false) => "the new tokens are in use, and the next command finds them".to_owned(),
            None => format!(
                "this command used them, but the next one will not find them: make the store writable \
                 (or use `--secrets file`), then run `authstate login {alias}`"
            ),
        };
        CliError::storage(message).for_server(alias).with_hint(hint)
    }

    /// What the next command will find for `alias`: its state, and whether
    /// that comes from the refresh journal (the stores refused it).
    fn next_view(&self, alias: &str) -> Option<(SessionState, bool)> {
        let manager = ServerManager::open(self.config.clone()).ok()?;
        let session = manager.session(alias)?;
        let from_journal = manager.restore_report().recovered_from_journal.iter().any(|a| a == alias);
        Some((session.state(), from_journal))
    }

    /// The refresh journal of `alias` (in its lease file).
    pub fn journal_path(&self, alias: &str) -> PathBuf {
        self.dir.path.join(format!("{alias}.lease"))
    }

    /// Where the tokens are, in words: `<store-dir>/secrets.json` or the OS keyring.
    pub fn secrets_location(&self) -> String {
        match self.backend {
            SecretsBackend::File => self.dir.path.join("secrets.json").display().to_string(),
            SecretsBackend::Keyring => "the OS keyring".to_owned(),
        }
    }

    /// One `warning:` line per thing opening found that the user should
    /// know: files moved aside, unreadable or refused records, tokens
    /// missing, states recovered from a journal, interrupted refreshes.
    fn report_restore(&self) {
        let report = self.manager.restore_report();
        for notice in &report.notices {
            say(&notice_text(notice));
        }
        for key in &report.corrupt {
            say(&format!("warning: unreadable entry {key} in the store was skipped"));
        }
        for rejected in &report.rejected {
            say(&format!("warning: the store entry {} was refused ({}) and skipped", rejected.key, rejected.problem));
        }
        for alias in &report.tokens_missing {
            say(&format!(
                "warning: {alias}: the secret store has no tokens for it (another --secrets choice?); it is signed out"
            ));
        }
        for alias in &report.recovered_from_journal {
            let Some(session) = self.manager.session(alias) else { continue };
            let journal = self.journal_path(alias);
            let journal = journal.display();
            let saved = !session.persistence_pending();
            say(&match (session.state_kind(), saved) {
                (StateKind::NoSession, true) => format!(
                    "warning: {alias}: a sign-out the store could not record was recovered from the refresh journal {journal}, and is recorded now"
                ),
                (StateKind::NoSession, false) => format!(
                    "warning: {alias}: a sign-out the store could not record was recovered from the refresh journal {journal}; \
                     {alias} is signed out, but its old tokens stay in {} until the store can take the change",
                    self.secrets_location()
                ),
                (_, true) => format!(
                    "warning: {alias}: tokens the store could not save were recovered from the refresh journal {journal}, and are saved now"
                ),
                (_, false) => format!(
                    "warning: {alias}: tokens the store could not save were recovered from the refresh journal {journal}; \
                     they are in use, and saved once the store can take them"
                ),
            });
        }
        for alias in &report.interrupted_refreshes {
            say(&format!(
                "warning: {alias}: an earlier refresh was interrupted before its answer was saved; \
                 if the server rotated the tokens meanwhile, {alias} needs `authstate login {alias}`"
            ));
        }
    }
}

/// A store notice as one `warning:` line (a path and a position, never content).
fn notice_text(notice: &StoreNotice) -> String {
    match notice {
        StoreNotice::MovedAside { file, moved_to, .. } => {
            format!("warning: {} was corrupt; it was moved to {}", file.display(), moved_to.display())
        }
        other => format!("warning: the store reported {other:?}"),
    }
}

/// The store directory, resolved, created and checked.
#[derive(Debug, Clone)]
pub struct StoreDir {
    /// Its absolute path.
    pub path: PathBuf,
    /// Whether it is the default one (the user's data directory + `authstate`).
    pub is_default: bool,
}

impl StoreDir {
    /// The directory `--store-dir` names (else the default one), created
    /// private if missing; refused when another user owns it, tightened to
    /// 0700 when it is open to others.
    pub fn open(global: &GlobalArgs) -> Result<Self, CliError> {
        let default_dir = dirs::data_dir().map(|d| d.join("authstate"));
        let path = match global.store_dir.clone().or_else(|| default_dir.clone()) {
            Some(dir) => std::path::absolute(&dir)
                .map_err(|e| CliError::usage(format!("store directory {}: {e}", dir.display())))?,
            None => {
                return Err(CliError::storage("this system has no data directory for the user")
                    .with_hint("pass --store-dir DIR or set AUTHSTATE_STORE_DIR"));
            }
        };
        create_private_dir(&path)?;
        permissions::check_dir(&path)?;
        let is_default = default_dir.as_deref() == Some(path.as_path());
        Ok(Self { path, is_default })
    }

    /// The keyring service name of its tokens: [`KEYRING_SERVICE`] for the
    /// default directory, `authstate-cli:<path>` for any other.
    pub fn keyring_service(&self) -> String {
        if self.is_default { KEYRING_SERVICE.to_owned() } else { format!("{KEYRING_SERVICE}:{}", self.path.display()) }
    }
}

fn create_private_dir(dir: &Path) -> Result<(), CliError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| {
        CliError::storage(format!("cannot create the store directory {}: {e}", dir.display()))
            .with_hint("pass a writable --store-dir")
    })
}

fn secret_store(backend: SecretsBackend, dir: &StoreDir) -> Result<Arc<dyn SecretStore>, CliError> {
    match backend {
        SecretsBackend::File => Ok(Arc::new(FileStore::open(dir.path.join("secrets.json"))?)),
        SecretsBackend::Keyring => secrets::os_keyring(&dir.keyring_service()),
    }
}

fn http_config(global: &GlobalArgs) -> Result<HttpConfig, CliError> {
    let config = HttpConfig::default();
    let Some(path) = &global.ca_cert else { return Ok(config) };
    let pem = std::fs::read_to_string(path)
        .map_err(|e| CliError::new(Exit::Usage, format!("cannot read the --ca-cert file {}: {e}", path.display())))?;
    Ok(config.trusting(pem))
}

/// Less free space than this on the store's file system reads as "full": a
/// store write needs room for a whole copy of its file.
#[cfg(unix)]
const LOW_SPACE_BYTES: u64 = 64 * 1024;

/// Why the file system of `dir` may refuse writes, when it says: read-only,
/// or (almost) no space left. `None` when neither (or unknown).
#[cfg(unix)]
// The statvfs fields are u64 on Linux but narrower elsewhere (macOS).
#[allow(clippy::useless_conversion)]
fn file_system_note(dir: &Path) -> Option<String> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: an all-zero statvfs is a valid value of this plain C struct.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated and outlives the call; `stat` is a valid, writable statvfs.
    if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
        return None;
    }
    if u64::from(stat.f_flag) & u64::from(libc::ST_RDONLY) != 0 {
        return Some(format!("the file system of {} is read-only", dir.display()));
    }
    let free = u64::from(stat.f_bavail).saturating_mul(u64::from(stat.f_frsize));
    (free < LOW_SPACE_BYTES).then(|| format!("no space left on the file system of {}", dir.display()))
}

#[cfg(not(unix))]
fn file_system_note(_dir: &Path) -> Option<String> {
    None
}
