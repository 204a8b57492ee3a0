//! The backends: how each kind of server signs in, refreshes and signs out.
//! [`Backends`] holds one of each over one shared HTTP client and hands each
//! session the refresher for its server's provider.

pub mod oidc;

use std::sync::Arc;

use crate::clock::SharedClock;
use crate::model::{Provider, ServerInfo};
use crate::refresh::{Refresher, RefresherFactory};

pub use oidc::OidcBackend;

/// One backend per provider kind, sharing one HTTP client. Pass it to
/// [`ManagerConfig::with_refreshers`](crate::ManagerConfig::with_refreshers)
/// and to [`Authenticator::new`](crate::Authenticator::new).
#[derive(Debug, Clone)]
pub struct Backends {
    http: reqwest::Client,
    oidc: Arc<OidcBackend>,
}

impl Backends {
    /// Backends sending through `http` (see [`crate::http::build_client`]) and
    /// dating tokens by `clock`.
    pub fn new(http: reqwest::Client, clock: SharedClock) -> Self {
        let oidc = Arc::new(OidcBackend::new(http.clone(), clock));
        Self { http, oidc }
    }

    /// The shared HTTP client.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The OpenID Connect backend.
    pub fn oidc(&self) -> &Arc<OidcBackend> {
        &self.oidc
    }
}

impl RefresherFactory for Backends {
    fn refresher_for(&self, server: &ServerInfo) -> Option<Arc<dyn Refresher>> {
        match server.provider {
            Provider::Oidc(_) => Some(Arc::clone(&self.oidc) as Arc<dyn Refresher>),
            Provider::TokenPair(_) | Provider::OpaqueToken(_) => None,
        }
    }
}
