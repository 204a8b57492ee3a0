//! The HTTP client and the backends over it, built when a command first
//! needs the network. Building the client loads the system's root
//! certificates (about 150 files here, most of a `token` call's cost), and a
//! `token` call that finds a valid token never sends a request: with
//! `make -j` running twenty of them, that is the difference.
//!
//! Guarantees: a bad `--ca-cert` is refused when the command starts, as
//! before; the client is built at most once per command; a client that
//! cannot be built fails the request as a network failure, which keeps the
//! session (a configuration error would expire it).

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use authstate::ProbeResult;
use authstate::http::{HttpConfig, HttpSetupError, build_client, check_config};
use authstate::refresh::Revocation;
use authstate::{
    Backends, RefreshError, Refresher, RefresherFactory, ServerInfo, SystemClock, TokenGrant, Tokens, TransientKind,
};

/// The backends, built on first use.
#[derive(Debug)]
pub struct Network {
    config: HttpConfig,
    built: OnceLock<Result<Backends, HttpSetupError>>,
}

impl Network {
    /// Checks `config` now; builds nothing yet.
    pub fn new(config: HttpConfig) -> Result<Arc<Self>, HttpSetupError> {
        check_config(&config)?;
        Ok(Arc::new(Self { config, built: OnceLock::new() }))
    }

    /// The backends, building the HTTP client the first time.
    pub fn backends(&self) -> Result<&Backends, HttpSetupError> {
        self.built
            .get_or_init(|| build_client(self.config.clone()).map(|http| Backends::new(http, Arc::new(SystemClock))))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Whether the client was built (a test hook for "no request, no client").
    #[cfg(test)]
    fn is_built(&self) -> bool {
        self.built.get().is_some()
    }
}

/// Hands the manager refreshers that build the client when first asked to
/// send.
#[derive(Debug, Clone)]
pub struct LazyRefreshers(pub Arc<Network>);

impl RefresherFactory for LazyRefreshers {
    fn refresher_for(&self, _server: &ServerInfo) -> Option<Arc<dyn Refresher>> {
        Some(Arc::new(LazyRefresher(Arc::clone(&self.0))))
    }
}

/// One server's refresher, resolved at its first request.
struct LazyRefresher(Arc<Network>);

impl LazyRefresher {
    fn resolve(&self, server: &ServerInfo) -> Result<Arc<dyn Refresher>, RefreshError> {
        let backends = self.0.backends().map_err(|e| {
            eprintln!("warning: {e}");
            RefreshError::Transient { kind: TransientKind::Network, retry_after: None }
        })?;
        backends
            .refresher_for(server)
            .ok_or_else(|| RefreshError::Configuration { detail: format!("no backend for {}", server.id) })
    }
}

#[async_trait]
impl Refresher for LazyRefresher {
    async fn refresh(&self, server: &ServerInfo, tokens: &Tokens) -> Result<TokenGrant, RefreshError> {
        self.resolve(server)?.refresh(server, tokens).await
    }

    async fn revoke(&self, server: &ServerInfo, tokens: &Tokens) -> Result<Revocation, RefreshError> {
        self.resolve(server)?.revoke(server, tokens).await
    }

    async fn probe(&self, server: &ServerInfo, tokens: &Tokens) -> Result<ProbeResult, RefreshError> {
        self.resolve(server)?.probe(server, tokens).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_built_until_asked_and_a_bad_root_is_refused_up_front() {
        let network = Network::new(HttpConfig::default()).unwrap();
        let _refreshers = LazyRefreshers(Arc::clone(&network));
        assert!(!network.is_built());
        assert!(network.backends().is_ok());
        assert!(network.is_built());
        assert!(Network::new(HttpConfig::default().trusting("not a certificate")).is_err());
    }
}
