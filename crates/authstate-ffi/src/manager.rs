//! `ServerManager` across the FFI: how it is built (stores, clock, HTTP),
//! servers, per-server state, the connection revision and its async
//! observation, route guards. Sign-in lives in [`crate::login`].

use std::sync::Arc;
use std::time::Duration;

use authstate::clock::SharedClock;
use authstate::http::{HttpConfig, build_client};
use authstate::model::OidcConfig;
use authstate::storage::{FileStore, KeyValueStore as CoreValues, MemoryStore, SecretStore as CoreSecrets};
use authstate::{Authenticator, Backends, ManagerConfig, Provider, SystemClock};

use crate::clock::ManualClock;
use crate::drafts::DraftStore;
use crate::records::{GuardDecision, ServerInfo, SessionState};
use crate::session::ServerSession;
use crate::stores::{HostSecrets, HostValues, KeyValueStore, SecretStore};
use crate::{AuthError, runtime};

/// How a manager is built. Every field is optional.
#[derive(Debug, Clone, Default, uniffi::Record)]
pub struct ManagerOptions {
    /// Keep state in atomic JSON files in this directory, for each store the
    /// host does not supply. Without it (and without a host store): memory.
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
}

/// Holds every server and its session. Reading state or the revision never
/// blocks on I/O.
#[derive(uniffi::Object)]
pub struct ServerManager {
    pub(crate) core: authstate::ServerManager,
    pub(crate) auth: Authenticator,
    values: Arc<dyn CoreValues>,
}

#[uniffi::export]
impl ServerManager {
    /// A manager built from `options`, storing through the host's `secrets`
    /// and `values` when given, timed by `clock` when given (tests).
    #[uniffi::constructor(default(secrets = None, values = None, clock = None))]
    pub fn new(
        options: ManagerOptions,
        secrets: Option<Arc<dyn SecretStore>>,
        values: Option<Arc<dyn KeyValueStore>>,
        clock: Option<Arc<ManualClock>>,
    ) -> Result<Arc<Self>, AuthError> {
        let dir = match options.directory.as_deref().map(str::trim) {
            Some("") => return Err(AuthError::InvalidInput { detail: "empty directory".into() }),
            dir => dir.map(std::path::Path::new),
        };
        let secrets: Arc<dyn CoreSecrets> = match (secrets, dir) {
            (Some(host), _) => Arc::new(HostSecrets(host)),
            (None, Some(dir)) => Arc::new(FileStore::open(dir.join("secrets.json"))?),
            (None, None) => Arc::new(MemoryStore::new()),
        };
        let values: Arc<dyn CoreValues> = match (values, dir) {
            (Some(host), _) => Arc::new(HostValues(host)),
            (None, Some(dir)) => Arc::new(FileStore::open(dir.join("state.json"))?),
            (None, None) => Arc::new(MemoryStore::new()),
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

        let mut config = ManagerConfig::new(secrets, Arc::clone(&values))
            .with_clock(clock)
            .with_refreshers(Arc::clone(&backends) as Arc<dyn authstate::RefresherFactory>);
        if let Some(secs) = options.refresh_threshold_secs {
            config = config.with_refresh_threshold(time::Duration::seconds(i64::from(secs)));
        }
        let core = authstate::ServerManager::open(config)?;
        let auth = Authenticator::new(core.clone(), backends);
        Ok(Arc::new(Self { core, auth, values }))
    }

    /// A manager over memory stores (tests, previews): nothing persists.
    #[uniffi::constructor]
    pub fn in_memory() -> Result<Arc<Self>, AuthError> {
        Self::new(ManagerOptions::default(), None, None, None)
    }

    /// A manager persisting to atomic JSON files in `directory` (desktop and
    /// tests; mobile hosts pass platform stores to `new`).
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

    /// The session of server `alias`.
    pub fn session(&self, alias: String) -> Result<Arc<ServerSession>, AuthError> {
        let session = self.core.session(&alias).ok_or(AuthError::UnknownServer { detail: alias })?;
        Ok(ServerSession::new(session, self.core.clock()))
    }

    /// The state of server `alias`. Never blocks.
    pub fn state(&self, alias: String) -> Result<SessionState, AuthError> {
        let session = self.core.session(&alias).ok_or(AuthError::UnknownServer { detail: alias })?;
        let now = self.core.clock().now();
        Ok(session.inspect(|state| SessionState::of(state, now)))
    }

    /// The connection revision: bumped by every transition and every server
    /// added or removed. Never blocks.
    pub fn connection_revision(&self) -> u64 {
        self.core.connection_revision()
    }

    /// Resolves once the connection revision passes `after_revision`, with the
    /// new revision. Loop on it to observe (each language wraps it in a
    /// stream). It needs no runtime: where the generated binding frees the
    /// future on cancellation (Kotlin, Python) the wait ends at once; Swift's
    /// and Dart's ignore cancellation, so theirs ends at the next revision.
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

    /// Drafts stored beside this manager's state, timed by its clock.
    pub fn drafts(&self) -> Arc<DraftStore> {
        DraftStore::new(authstate::DraftStore::new(Arc::clone(&self.values), self.core.clock()), self.core.clone())
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
