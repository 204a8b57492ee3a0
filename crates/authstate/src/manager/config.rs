//! How a [`ServerManager`](super::ServerManager) is put together.

use std::path::PathBuf;
use std::sync::Arc;

use time::Duration;

use crate::clock::{SharedClock, SystemClock};
use crate::guard::RouteTemplates;
use crate::refresh::{BackoffPolicy, NoRefresh, RefresherFactory};
use crate::session::SessionConfig;
use crate::storage::{GuardedSecrets, GuardedValues, KeyValueStore, SecretStore};

/// Everything a manager needs: stores, clock, refreshers, tuning, routes,
/// and the lock directory shared with other processes.
#[derive(Clone)]
pub struct ManagerConfig {
    pub(crate) secrets: Arc<dyn SecretStore>,
    pub(crate) kv: Arc<dyn KeyValueStore>,
    pub(crate) clock: SharedClock,
    pub(crate) session: SessionConfig,
    pub(crate) refreshers: Arc<dyn RefresherFactory>,
    pub(crate) routes: RouteTemplates,
    pub(crate) lock_dir: Option<PathBuf>,
    pub(crate) tokens_in_lock_dir: bool,
}

impl std::fmt::Debug for ManagerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagerConfig")
            .field("clock", &self.clock)
            .field("session", &self.session)
            .field("routes", &self.routes)
            .field("lock_dir", &self.lock_dir)
            .finish_non_exhaustive()
    }
}

impl ManagerConfig {
    /// Tokens go to `secrets`, everything else to `kv`. Defaults: system clock,
    /// 300 s refresh threshold, no refreshers, default routes, one process.
    /// Every call into the stores is guarded: a store that panics is
    /// "unavailable", never an unwinding core.
    pub fn new(secrets: Arc<dyn SecretStore>, kv: Arc<dyn KeyValueStore>) -> Self {
        Self {
            secrets: Arc::new(GuardedSecrets(secrets)),
            kv: Arc::new(GuardedValues(kv)),
            clock: Arc::new(SystemClock),
            session: SessionConfig::default(),
            refreshers: Arc::new(NoRefresh),
            routes: RouteTemplates::default(),
            lock_dir: None,
            tokens_in_lock_dir: false,
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

    /// Shares the stores with other processes (an app and its extensions,
    /// a desktop app and the CLI) through the lock directory `dir`: the
    /// store directory for file stores, or a directory every process can
    /// reach (the App Group container on iOS, `filesDir` on Android). Then
    /// no process loses another's writes, one refresh is made per rotation
    /// between them, and each follows the others' sign-in, refresh and
    /// sign-out at its next token read (DESIGN.md invariant 14).
    pub fn with_lock_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.lock_dir = Some(dir.into());
        self
    }

    /// Lets rotated tokens that the secret store cannot take wait in the
    /// lock directory's refresh journal until it can. Only for a lock
    /// directory as private as the secret store itself (the directory of a
    /// file secret store); never for a Keychain or Keystore.
    pub fn with_tokens_in_lock_dir(mut self, allowed: bool) -> Self {
        self.tokens_in_lock_dir = allowed;
        self
    }

    /// How long a refresh waits for another process that holds the same
    /// server's refresh lease (default 60 s) before `TryLater`.
    pub fn with_lease_wait(mut self, wait: std::time::Duration) -> Self {
        self.session.lease_wait = wait;
        self
    }
}
