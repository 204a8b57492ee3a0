//! Builds the core from the global options: the store directory, the secret
//! store (OS keyring or a 0600 file), the state file, the HTTP client (with
//! an extra trusted root), the backends, the manager and the authenticator.
//!
//! Guarantees: a store that cannot be opened is an error (exit 7), never an
//! empty store; tokens go only to the chosen secret store (see `secrets.rs`
//! for which); the store directory is created private (0700 on Unix), and
//! it and every file the CLI keeps in it are checked before anything is read
//! (see `permissions.rs`); an open [`App`] holds the store directory's lock
//! (see `lock.rs`), so the stores it read cannot change under it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use authstate::http::{HttpConfig, build_client};
use authstate::storage::{FileStore, KeyValueStore, SecretStore};
use authstate::{Authenticator, Backends, ManagerConfig, ServerManager, ServerSession, SystemClock};

use crate::cli::{GlobalArgs, SecretsBackend};
use crate::exit::{CliError, Exit};
use crate::lock::StoreLock;
use crate::output::say;
use crate::permissions::{self, FileRole};
use crate::secrets;

/// The keyring service name for the default store directory; another store
/// directory gets `authstate-cli:<its absolute path>`, so two directories
/// never share (or delete) each other's tokens.
pub const KEYRING_SERVICE: &str = "authstate-cli";

/// Everything a command needs, opened from the global options.
pub struct App {
    /// The servers and their sessions.
    pub manager: ServerManager,
    /// Sign-in, sign-out and device-session calls.
    pub auth: Authenticator,
    /// Held while the stores are open; declared last, so released last.
    _lock: StoreLock,
}

impl App {
    /// Takes the store directory's lock, then opens the stores under it and
    /// the manager over them. Drop the `App` to release the lock.
    pub fn open(global: &GlobalArgs) -> Result<Self, CliError> {
        let dir = StoreDir::open(global)?;
        permissions::check_file(&dir.path.join("lock"), FileRole::Lock)?;
        let lock = StoreLock::acquire(&dir.path)?;
        permissions::check_store_files(&dir.path)?;
        let kv = Arc::new(open_file_store(&dir.path.join("state.json"))?);
        let secrets = secret_store(secrets::chosen(global, &dir.path)?, &dir)?;
        let http = build_client(http_config(global)?)?;
        let backends = Arc::new(Backends::new(http, Arc::new(SystemClock)));
        let kv_store: Arc<dyn KeyValueStore> = kv.clone();
        let config = ManagerConfig::new(secrets, kv_store).with_refreshers(backends.clone());
        let manager = ServerManager::open(config)?;
        let report = manager.restore_report();
        for key in &report.corrupt {
            say(&format!("warning: unreadable entry {key} in the store was skipped"));
        }
        for alias in &report.tokens_missing {
            say(&format!(
                "warning: {alias}: the secret store has no tokens for it (another --secrets choice?); it is signed out"
            ));
        }
        let auth = Authenticator::new(manager.clone(), backends);
        Ok(Self { manager, auth, _lock: lock })
    }

    /// The session of `alias`, or "unknown server" (exit 3).
    pub fn session(&self, alias: &str) -> Result<Arc<ServerSession>, CliError> {
        self.manager.session(alias).ok_or_else(|| CliError::unknown_server(alias))
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

fn open_file_store(path: &Path) -> Result<FileStore, CliError> {
    let store = FileStore::open(path)?;
    if let Some(aside) = store.moved_aside() {
        say(&format!("warning: {} was corrupt; it was moved to {}", path.display(), aside.display()));
    }
    Ok(store)
}

fn secret_store(backend: SecretsBackend, dir: &StoreDir) -> Result<Arc<dyn SecretStore>, CliError> {
    match backend {
        SecretsBackend::File => Ok(Arc::new(open_file_store(&dir.path.join("secrets.json"))?)),
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
