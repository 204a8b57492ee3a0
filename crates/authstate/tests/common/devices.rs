//! Client devices of a Django peer: each [`Device`] is one app install — its
//! own manager over memory stores, a manual clock, the real backends, and one
//! server (`api`) for the peer with the provider under test.

use std::sync::Arc;

use authstate::http::{HttpConfig, build_client};
use authstate::model::{OpaqueTokenConfig, RefreshRequestShape, TokenPairConfig};
use authstate::refresh::BackoffPolicy;
use authstate::storage::MemoryStore;
use authstate::{
    AuthedClient, Authenticator, Backends, LoginOutcome, ManagerConfig, ManualClock, Provider, Secret, ServerManager,
    ServerSession, Tokens,
};
use time::{Duration, OffsetDateTime};

/// The alias of the peer's server on every device.
pub const API: &str = "api";
/// The password of every test user.
pub const PASSWORD: &str = "correct horse";

/// simplejwt's endpoints with the refresh token in a JSON body.
pub fn simplejwt() -> Provider {
    Provider::TokenPair(TokenPairConfig::simplejwt("api/token/"))
}

/// simplejwt's endpoints with the refresh endpoint at `refresh_path`, sent in `shape`.
pub fn token_pair(refresh_path: &str, shape: RefreshRequestShape) -> Provider {
    Provider::TokenPair(TokenPairConfig {
        refresh_path: refresh_path.into(),
        refresh_shape: shape,
        ..TokenPairConfig::simplejwt("api/token/")
    })
}

/// The peer's knox-backed device sessions, Notechondria layout.
pub fn opaque() -> Provider {
    Provider::OpaqueToken(OpaqueTokenConfig::under("api/v1/auth/"))
}

/// One app install signed in (or not) to one server.
pub struct Device {
    pub http: reqwest::Client,
    pub auth: Authenticator,
    pub session: Arc<ServerSession>,
    pub clock: ManualClock,
    pub secrets: MemoryStore,
    pub values: MemoryStore,
}

impl Device {
    /// A device of the server at `base_url` using `provider`, refreshing
    /// tokens within 5 s of expiry (or at half-life), with no backoff.
    pub fn new(base_url: &str, provider: Provider) -> Self {
        Self::with_http(base_url, provider, HttpConfig::default())
    }

    /// Like [`Device::new`], with the HTTP client built from `http`.
    pub fn with_http(base_url: &str, provider: Provider, http: HttpConfig) -> Self {
        Self::with_client(base_url, provider, build_client(http).expect("http client"))
    }

    /// Like [`Device::new`], sending through `http` (shared by many devices:
    /// building a client reads the system's certificates).
    pub fn with_client(base_url: &str, provider: Provider, http: reqwest::Client) -> Self {
        let clock = ManualClock::new(OffsetDateTime::now_utc());
        let (secrets, values) = (MemoryStore::new(), MemoryStore::new());
        let (manager, backends) = open(&http, &clock, &secrets, &values);
        let session = manager.add_server(base_url, Some(API), provider).expect("add server");
        let auth = Authenticator::new(manager, backends);
        Self { http, auth, session, clock, secrets, values }
    }

    /// The same install after an app restart: a new manager over the same stores.
    pub fn reopened(&self) -> Self {
        let (manager, backends) = open(&self.http, &self.clock, &self.secrets, &self.values);
        let session = manager.session(API).expect("the server was saved");
        let auth = Authenticator::new(manager, backends);
        Self {
            http: self.http.clone(),
            auth,
            session,
            clock: self.clock.clone(),
            secrets: self.secrets.clone(),
            values: self.values.clone(),
        }
    }

    /// Signs in as `user` with [`PASSWORD`].
    pub async fn login(&self, user: &str) -> LoginOutcome {
        self.auth.sign_in_with_password(API, user, &Secret::new(PASSWORD), Some("test device")).await.expect("sign in")
    }

    /// The session's tokens (panics when signed out).
    pub fn tokens(&self) -> Tokens {
        self.session.state().tokens().cloned().expect("the session holds tokens")
    }

    /// The current access token, whatever the state.
    pub fn access(&self) -> String {
        self.tokens().access.expose().to_owned()
    }

    /// A client that sends with this device's session.
    pub fn api(&self) -> AuthedClient {
        AuthedClient::new(self.http.clone(), Arc::clone(&self.session))
    }

    /// Moves this device's clock `secs` seconds on.
    pub fn advance(&self, secs: i64) {
        self.clock.advance(Duration::seconds(secs));
    }
}

fn open(
    http: &reqwest::Client,
    clock: &ManualClock,
    secrets: &MemoryStore,
    values: &MemoryStore,
) -> (ServerManager, Arc<Backends>) {
    let backends = Arc::new(Backends::new(http.clone(), Arc::new(clock.clone())));
    let config = ManagerConfig::new(Arc::new(secrets.clone()), Arc::new(values.clone()))
        .with_clock(Arc::new(clock.clone()))
        .with_refresh_threshold(Duration::seconds(5))
        .with_backoff(BackoffPolicy { initial: Duration::ZERO, max: Duration::ZERO })
        .with_refreshers(backends.clone());
    (ServerManager::open(config).expect("open manager"), backends)
}
