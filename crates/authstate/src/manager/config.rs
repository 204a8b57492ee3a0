//! How a [`ServerManager`](super::ServerManager) is put together.

use std::sync::Arc;

use time::Duration;

use crate::clock::{SharedClock, SystemClock};
use crate::guard::RouteTemplates;
use crate::refresh::{BackoffPolicy, NoRefresh, RefresherFactory};
use crate::session::SessionConfig;
use crate::storage::{KeyValueStore, SecretStore};

/// Everything a manager needs: stores, clock, refreshers, tuning, routes.
#[derive(Clone)]
pub struct ManagerConfig {
    pub(crate) secrets: Arc<dyn SecretStore>,
    pub(crate) kv: Arc<dyn KeyValueStore>,
    pub(crate) clock: SharedClock,
    pub(crate) session: SessionConfig,
    pub(crate) refreshers: Arc<dyn RefresherFactory>,
    pub(crate) routes: RouteTemplates,
}

impl std::fmt::Debug for ManagerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagerConfig")
            .field("clock", &self.clock)
            .field("session", &self.session)
            .field("routes", &self.routes)
            .finish_non_exhaustive()
    }
}

impl ManagerConfig {
    /// Tokens go to `secrets`, everything else to `kv`. Defaults: system clock,
    /// 300 s refresh threshold, no refreshers, default routes.
    pub fn new(secrets: Arc<dyn SecretStore>, kv: Arc<dyn KeyValueStore>) -> Self {
        Self {
            secrets,
            kv,
            clock: Arc::new(SystemClock),
            session: SessionConfig::default(),
            refreshers: Arc::new(NoRefresh),
            routes: RouteTemplates::default(),
        }
    }

    /// Uses `clock` for every expiry and TTL.
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Refreshes tokens that expire within `threshold` before using them.
    pub fn with_refresh_threshold(mut self, threshold: Duration) -> Self {
        self.session.refresh_threshold = threshold;
        self
    }

    /// Backoff after transient refresh failures.
    pub fn with_backoff(mut self, backoff: BackoffPolicy) -> Self {
        self.session.backoff = backoff;
        self
    }

    /// Where each server's refresher comes from.
    pub fn with_refreshers(mut self, refreshers: Arc<dyn RefresherFactory>) -> Self {
        self.refreshers = refreshers;
        self
    }

    /// Route templates for [`guard`](super::ServerManager::guard).
    pub fn with_routes(mut self, routes: RouteTemplates) -> Self {
        self.routes = routes;
        self
    }
}
