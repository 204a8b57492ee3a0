//! The client side wired to a peer: the real OIDC backend over TLS (trusting
//! the peer's certificate), memory stores, the given clock, no backoff, and one
//! server (`idp`) for the peer.

use std::sync::Arc;

use authstate::http::{HttpConfig, build_client};
use authstate::model::OidcConfig;
use authstate::refresh::BackoffPolicy;
use authstate::storage::MemoryStore;
use authstate::{Authenticator, Backends, Clock, LoginOutcome, ManagerConfig, Provider, ServerManager, ServerSession};
use time::Duration;

use super::{OidcPeer, TLS_CERT_PEM, drive_login};

/// The alias of the peer's server in a [`PeerClient`].
pub const ALIAS: &str = "idp";

/// A manager with one server, the peer, signed out.
pub struct PeerClient {
    /// The shared HTTP client (trusts the peer's certificate).
    pub http: reqwest::Client,
    /// The backends the manager refreshes with.
    pub backends: Arc<Backends>,
    /// Logins for the manager.
    pub auth: Authenticator,
    /// The peer's session.
    pub session: Arc<ServerSession>,
    /// The manager's secret store.
    pub secrets: MemoryStore,
}

impl OidcPeer {
    /// A client of this provider dated by `clock`, refreshing tokens within
    /// `threshold` of expiry (or at half-life).
    pub fn client(&self, clock: Arc<dyn Clock>, threshold: Duration) -> PeerClient {
        let http = build_client(HttpConfig::default().trusting(TLS_CERT_PEM)).expect("http client");
        let backends = Arc::new(Backends::new(http.clone(), Arc::clone(&clock)));
        let secrets = MemoryStore::new();
        let config = ManagerConfig::new(Arc::new(secrets.clone()), Arc::new(MemoryStore::new()))
            .with_clock(clock)
            .with_refresh_threshold(threshold)
            .with_backoff(BackoffPolicy { initial: Duration::ZERO, max: Duration::ZERO })
            .with_refreshers(backends.clone());
        let manager = ServerManager::open(config).expect("open manager");
        let provider = Provider::Oidc(OidcConfig {
            issuer: self.issuer(),
            client_id: self.client_id().to_owned(),
            redirect_uri: self.redirect_uri(),
            scopes: vec!["profile".into()],
        });
        let session = manager.add_server(&self.issuer(), Some(ALIAS), provider).expect("add server");
        let auth = Authenticator::new(manager, Arc::clone(&backends));
        PeerClient { http, backends, auth, session, secrets }
    }
}

impl PeerClient {
    /// A full browser login as `alice`.
    pub async fn login(&self, return_to: Option<&str>) -> LoginOutcome {
        let url = self.auth.begin_login(ALIAS, return_to).await.expect("begin_login");
        let callback = drive_login(url.as_str(), "alice").await;
        self.auth.complete_login(&callback).await.expect("complete_login")
    }
}
