//! `ServerManager` across the FFI: how it is built (stores, clock, HTTP, the
//! lock directory shared with other processes), servers, per-server state,
//! the connection revision and its async observation, route guards, and what
//! opening the stores found. Sign-in lives in [`crate::login`].

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use authstate::clock::SharedClock;
use authstate::http::{HttpConfig, build_client};
use authstate::model::OidcConfig;
use authstate::storage::{
    FileStore, KeyValueStore as CoreValues, MemoryStore, SecretStore as CoreSecrets, StoreNotice as CoreNotice,
};
use authstate::{Authenticator, Backends, ManagerConfig, Provider, RouteTemplates, SystemClock};

use crate::clock::ManualClock;
use crate::drafts::DraftStore;
use crate::records::{GuardDecision, ServerInfo, SessionState};
use crate::report::{RestoreReport, StoreNotice};
use crate::session::ServerSession;
use crate::stores::{HostSecrets, HostValues, KeyValueStore, SecretStore};
use crate::{AuthError, runtime};

/// How often a manager sharing a lock directory looks at the change counter
/// (a memory load) to follow other processes.
const FOLLOW_EVERY: Duration = Duration::from_millis(250);

/// How a manager is built. Every field is optional.
#[derive(Debug, Clone, Default, uniffi::Record)]
pub struct ManagerOptions {
    /// Keep state in atomic JSON files in this directory (`secrets.json`,
    /// `state.json`, `drafts.json`), for each store the host does not supply.
    /// Without it (and without a host store): memory. Created if missing.
    #[uniffi(default = None)]
    pub directory: Option<String>,
    /// Extra PEM certificates to trust for TLS (a development provider).
    #[uniffi(default = [])]
    pub trusted_roots_pem: Vec<String>,
    /// Refresh this many seconds before the access token expires (default 300;
    /// capped at half the token's life).
    #[uniffi(default = None)]
    pub refresh_threshold_secs: Option<u32>,
    /// Give up on one HTTP request after this many seconds (default 30).
    #[uniffi(default = None)]
    pub request_timeout_secs: Option<u32>,
    /// Share the stores with other processes through this directory (the App
    /// Group container on iOS, `filesDir` on Android, any directory they all
    /// reach): no process loses another's writes, one refresh is made per
    /// token rotation between them, and each follows the others' sign-in,
    /// refresh and sign-out (observers within a quarter of a second). Default:
    /// `directory`, when given; otherwise one process. Created if missing.
    #[uniffi(default = None)]
    pub lock_directory: Option<String>,
    /// Where `guard` sends a user when no server is usable. Default `/`. A
    /// relative path within the app, else `InvalidInput`.
    #[uniffi(default = None)]
    pub home_route: Option<String>,
    /// Where `guard` sends a user to sign in to one server. Default
    /// `/?server={server}&returnTo={return_to}`: `{server}` (required) and
    /// `{return_to}` are replaced by percent-encoded values. A relative path
    /// within the app, else `InvalidInput`.
    #[uniffi(default = None)]
    pub sign_in_route: Option<String>,
}

/// Holds every server and its session. Reading state or the revision never
/// blocks on I/O.
#[derive(uniffi::Object)]
pub struct ServerManager {
    pub(crate) core: authstate::ServerManager,
    pub(crate) auth: Authenticator,
    drafts: authstate::DraftStore,
    /// The drafts' own file, when they have one (its repairs are reported).
    drafts_file: Option<Arc<FileStore>>,
    report: RestoreReport,
    /// What the drafts file repaired since the manager opened.
    drafts_notices: Mutex<Vec<CoreNotice>>,
}

#[uniffi::export]
impl ServerManager {
    /// A manager built from `options`, storing through the host's `secrets`
    /// and `values` when given, timed by `clock` when given (tests). A
    /// directory that is empty is `InvalidInput`; one that cannot be created
    /// or written is `Storage`. Read `restore_report()` afterwards: a corrupt
    /// file is moved aside and reported there, not signed out silently.
    #[uniffi::constructor(default(secrets = None, values = None, clock = None))]
    pub fn new(
        options: ManagerOptions,
        secrets: Option<Arc<dyn SecretStore>>,
        values: Option<Arc<dyn KeyValueStore>>,
        clock: Option<Arc<ManualClock>>,
    ) -> Result<Arc<Self>, AuthError> {
        let routes = routes(&options)?;
        let dir = usable_directory("directory", options.directory.as_deref())?;
        let lock_dir = match usable_directory("lock_directory", options.lock_directory.as_deref())? {
            Some(lock_dir) => Some(lock_dir),
            None => dir.clone(),
        };
        let file_in = |dir: &Path, name: &str| FileStore::open(dir.join(name));

        // Rotated tokens may wait in the lock directory's journal only when it
        // is as private as the secret store: the directory of the secrets file.
        let tokens_in_lock_dir = secrets.is_none() && same_directory(dir.as_deref(), lock_dir.as_deref());
        let secrets: Arc<dyn CoreSecrets> = match (secrets, &dir) {
            (Some(host), _) => Arc::new(HostSecrets(host)),
            (None, Some(dir)) => Arc::new(file_in(dir, "secrets.json")?),
            (None, None) => Arc::new(MemoryStore::new()),
        };
        let host_values = values.map(|host| Arc::new(HostValues(host)) as Arc<dyn CoreValues>);
        let values: Arc<dyn CoreValues> = match (&host_values, &dir) {
            (Some(host), _) => Arc::clone(host),
            (None, Some(dir)) => Arc::new(file_in(dir, "state.json")?),
            (None, None) => Arc::new(MemoryStore::new()),
        };
        // Drafts change far more often than the server list: their own file.
        let drafts_file = match (&host_values, &dir) {
            (None, Some(dir)) => Some(Arc::new(file_in(dir, "drafts.json")?)),
            _ => None,
        };
        let drafts_values: Arc<dyn CoreValues> = match &drafts_file {
            Some(file) => Arc::clone(file) as Arc<dyn CoreValues>,
            None => Arc::clone(&values),
        };
        let clock: SharedClock = clock.map_or_else(|| Arc::new(SystemClock) as SharedClock, |c| c.shared());

        let mut http = HttpConfig::default();
        if let Some(secs) = options.request_timeout_secs {
            http.request_timeout = Duration::from_secs(u64::from(secs.max(1)));
        }
        for pem in options.trusted_roots_pem {
            http = http.trusting(pem);
        }
        let client = build_client(http).map_err(|e| AuthError::Configuration { detail: e.to_string() })?;
        let backends = Arc::new(Backends::new(client, Arc::clone(&clock)));

        let mut config = ManagerConfig::new(secrets, values)
            .with_clock(Arc::clone(&clock))
            .with_refreshers(Arc::clone(&backends) as Arc<dyn authstate::RefresherFactory>)
            .with_routes(routes);
        if let Some(secs) = options.refresh_threshold_secs {
            config = config.with_refresh_threshold(time::Duration::seconds(i64::from(secs)));
        }
        if let Some(lock_dir) = &lock_dir {
            config = config.with_lock_dir(lock_dir).with_tokens_in_lock_dir(tokens_in_lock_dir);
        }
        let core = authstate::ServerManager::open(config)?;
        if lock_dir.is_some() {
            // Ends by itself once the manager is dropped.
            runtime::spawn(core.follow_other_processes(FOLLOW_EVERY))?;
        }
        let opening_notices = drafts_file.as_ref().map(|file| file.take_notices()).unwrap_or_default();
        let report = RestoreReport::of(core.restore_report(), &opening_notices);
        let auth = Authenticator::new(core.clone(), backends);
        let drafts = authstate::DraftStore::new(drafts_values, clock);
        Ok(Arc::new(Self { core, auth, drafts, drafts_file, report, drafts_notices: Mutex::default() }))
    }

    /// A manager over memory stores (tests, previews): nothing persists.
    #[uniffi::constructor]
    pub fn in_memory() -> Result<Arc<Self>, AuthError> {
        Self::new(ManagerOptions::default(), None, None, None)
    }

    /// A manager persisting to atomic JSON files in `directory` (desktop and
    /// tests; mobile hosts pass platform stores to `new`), shared with every
    /// other process that opens the same directory.
    #[uniffi::constructor]
    pub fn with_files(directory: String) -> Result<Arc<Self>, AuthError> {
        Self::new(ManagerOptions { directory: Some(directory), ..ManagerOptions::default() }, None, None, None)
    }

    /// Adds an OpenID Connect server, signed out. `scopes` are requested on
    /// top of `openid` and `offline_access`.
    #[uniffi::method(default(alias = None, scopes = []))]
    pub fn add_oidc_server(
        &self,
        url: String,
        issuer: String,
        client_id: String,
        redirect_uri: String,
        alias: Option<String>,
        scopes: Vec<String>,
    ) -> Result<ServerInfo, AuthError> {
        let provider = Provider::Oidc(OidcConfig { issuer, client_id, redirect_uri, scopes });
        let session = self.core.add_server(&url, alias.as_deref(), provider)?;
        Ok(ServerInfo::from(session.info()))
    }

    /// Removes a server and deletes its secrets.
    pub fn remove_server(&self, alias: String) -> Result<(), AuthError> {
        Ok(self.core.remove_server(&alias)?)
    }

    /// Every server, by alias.
    pub fn servers(&self) -> Vec<ServerInfo> {
        self.core.servers().iter().map(ServerInfo::from).collect()
    }

    /// The session of server `alias`. Once the server is removed, the
    /// session's calls fail with `UnknownServer` and its state is `NoSession`.
    pub fn session(&self, alias: String) -> Result<Arc<ServerSession>, AuthError> {
        let session = self.core.session(&alias).ok_or(AuthError::UnknownServer { detail: alias })?;
        Ok(ServerSession::new(session, self.core.clock()))
    }

    /// The state of server `alias`. Never blocks.
    pub fn state(&self, alias: String) -> Result<SessionState, AuthError> {
        let session = self.core.session(&alias).ok_or(AuthError::UnknownServer { detail: alias })?;
        Ok(session.inspect(SessionState::of))
    }

    /// The connection revision: bumped by every transition and every server
    /// added or removed. Never blocks.
    pub fn connection_revision(&self) -> u64 {
        self.core.connection_revision()
    }

    /// Resolves once the connection revision passes `after_revision`, with the
    /// new revision. The low-level wait under [`watch_revisions`]; observers
    /// use the watches, which carry the observation rules and can be
    /// cancelled from every language.
    ///
    /// [`watch_revisions`]: Self::watch_revisions
    pub async fn changed(&self, after_revision: u64) -> u64 {
        self.core.changed(after_revision).await
    }

    /// Whether any server is `Active`.
    pub fn any_authenticated(&self) -> bool {
        self.core.any_authenticated()
    }

    /// The route guard: public routes pass; a route naming a server that is
    /// not `Active` redirects to sign in with `returnTo`.
    #[uniffi::method(default(server_alias = None, is_public = false))]
    pub fn guard(&self, location: String, server_alias: Option<String>, is_public: bool) -> GuardDecision {
        self.core.guard(&location, server_alias.as_deref(), is_public).into()
    }

    /// Drafts stored beside this manager's state (their own file in
    /// `directory`, else the host's `KeyValueStore`), timed by its clock.
    pub fn drafts(&self) -> Arc<DraftStore> {
        DraftStore::new(self.drafts.clone(), self.core.clone())
    }

    /// What opening the stores found: servers restored, corrupt or refused
    /// records, sessions whose tokens were missing, interrupted refreshes,
    /// tokens recovered from the journal, and files moved aside. Never blocks.
    pub fn restore_report(&self) -> RestoreReport {
        self.report.clone()
    }

    /// What the stores repaired since the manager opened (a corrupt file
    /// moved aside, with where its content went), oldest first. What they
    /// repaired while opening is in `restore_report()`.
    pub fn store_notices(&self) -> Vec<StoreNotice> {
        let mut drafts = self.drafts_notices.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(file) = &self.drafts_file {
            drafts.extend(file.take_notices());
        }
        self.core.store_notices().iter().chain(drafts.iter()).map(StoreNotice::from).collect()
    }

    /// Re-reads the stores now if another process changed them (servers
    /// added or removed, sign-ins, refreshes, sign-outs), and retries saving
    /// state the stores refused. A manager with a lock directory also does
    /// this on its own four times a second.
    pub fn catch_up(&self) {
        self.core.catch_up();
    }

    /// Call when the app returns to the foreground: every session whose token
    /// expired meanwhile refreshes.
    pub async fn on_resume(&self) -> Result<(), AuthError> {
        let core = self.core.clone();
        runtime::run(async move {
            core.on_resume().await;
            Ok(())
        })
        .await
    }
}

/// The directory named by option `field`, created if missing and checked
/// writable: `InvalidInput` when it is blank, `Storage` when it cannot be
/// created or written.
/// The guard's routes: the options' templates, each defaulted, checked.
fn routes(options: &ManagerOptions) -> Result<RouteTemplates, AuthError> {
    let default = RouteTemplates::default();
    let home = options.home_route.as_deref().unwrap_or(&default.home);
    let sign_in = options.sign_in_route.as_deref().unwrap_or(&default.sign_in);
    RouteTemplates::new(home, sign_in).map_err(|e| AuthError::InvalidInput { detail: e.to_string() })
}

fn usable_directory(field: &str, value: Option<&str>) -> Result<Option<PathBuf>, AuthError> {
    let Some(value) = value else { return Ok(None) };
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(AuthError::InvalidInput { detail: format!("{field} is empty") });
    }
    let dir = PathBuf::from(trimmed);
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(&dir)
        .map_err(|e| AuthError::Storage { detail: format!("{field} {} cannot be created: {e}", dir.display()) })?;
    probe_writable(&dir)
        .map_err(|e| AuthError::Storage { detail: format!("{field} {} is not writable: {e}", dir.display()) })?;
    Ok(Some(dir))
}

/// Whether `a` and `b` are both given and name the same directory.
fn same_directory(a: Option<&Path>, b: Option<&Path>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
            (Ok(a), Ok(b)) => a == b,
            _ => a == b,
        },
        _ => false,
    }
}

/// Creates, writes and removes a file of a name no other process uses.
fn probe_writable(dir: &Path) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::sync::atomic::{AtomicU64, Ordering};
    static PROBES: AtomicU64 = AtomicU64::new(0);
    let name = format!(".authstate-probe-{}-{}", std::process::id(), PROBES.fetch_add(1, Ordering::Relaxed));
    let path = dir.join(name);
    let written =
        std::fs::OpenOptions::new().write(true).create_new(true).open(&path).and_then(|mut f| f.write_all(b"ok"));
    let removed = std::fs::remove_file(&path);
    written.and(removed)
}
