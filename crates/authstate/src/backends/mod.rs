//! The backends: how each kind of server signs in, refreshes and signs out.
//! [`Backends`] holds one of each over one shared HTTP client and hands each
//! session the refresher for its server's provider.

pub mod answer;
pub mod oidc;
pub mod opaque;
pub mod token_pair;
mod wire;

use std::sync::Arc;

use crate::clock::SharedClock;
use crate::model::{Provider, ServerInfo};
use crate::refresh::{Refresher, RefresherFactory};

pub use oidc::OidcBackend;
pub use opaque::{OpaqueBackend, OpaqueLogin};
pub use token_pair::TokenPairBackend;

/// One backend per provider kind, sharing one HTTP client. Pass it to
/// [`ManagerConfig::with_refreshers`](crate::ManagerConfig::with_refreshers)
/// and to [`Authenticator::new`](crate::Authenticator::new).
#[derive(Debug, Clone)]
pub struct Backends {
    http: reqwest::Client,
    oidc: Arc<OidcBackend>,
    token_pair: Arc<TokenPairBackend>,
    opaque: Arc<OpaqueBackend>,
}

impl Backends {
    /// Backends sending through `http` (see [`crate::http::build_client`]) and
    /// dating tokens by `clock`.
    pub fn new(http: reqwest::Client, clock: SharedClock) -> Self {
        let oidc = Arc::new(OidcBackend::new(http.clone(), clock));
        let token_pair = Arc::new(TokenPairBackend::new(http.clone()));
        let opaque = Arc::new(OpaqueBackend::new(http.clone()));
        Self { http, oidc, token_pair, opaque }
    }

    /// The shared HTTP client.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The OpenID Connect backend.
    pub fn oidc(&self) -> &Arc<OidcBackend> {
        &self.oidc
    }

    /// The TokenPair (JWT access/refresh) backend.
    pub fn token_pair(&self) -> &Arc<TokenPairBackend> {
        &self.token_pair
    }

    /// The OpaqueToken (per-device token) backend.
    pub fn opaque(&self) -> &Arc<OpaqueBackend> {
        &self.opaque
    }
}

impl RefresherFactory for Backends {
    fn refresher_for(&self, server: &ServerInfo) -> Option<Arc<dyn Refresher>> {
        match server.provider {
            Provider::Oidc(_) => Some(Arc::clone(&self.oidc) as Arc<dyn Refresher>),
            Provider::TokenPair(_) => Some(Arc::clone(&self.token_pair) as Arc<dyn Refresher>),
            Provider::OpaqueToken(_) => Some(Arc::clone(&self.opaque) as Arc<dyn Refresher>),
        }
    }
}
