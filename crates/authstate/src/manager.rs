//! The servers an app talks to, and the one connection revision over all of
//! them (DESIGN.md invariant 9).
//!
//! Adding, removing and every per-server transition bump the revision after
//! persisting; [`ServerManager::changed`] resolves once it passes a value, which
//! is how every language observes without callbacks. Opening restores each
//! server as it was saved (invariant 10); an unavailable store fails the open
//! instead of reading as empty (invariant 12), and what the stores repaired
//! or refused is reported ([`RestoreReport`]). With a lock directory the
//! stores are shared with other processes, whose changes this manager
//! follows (invariant 14).

mod config;
mod membership;
mod report;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::future::join_all;
use parking_lot::{Mutex, RwLock};

pub use config::ManagerConfig;
pub use report::{RecordProblem, RejectedRecord, RestoreReport};

use crate::clock::SharedClock;
use crate::coordination::Coordination;
use crate::guard::{self, GuardDecision, RouteServer};
use crate::model::{Alias, ServerId, ServerInfo, ServerInputError};
use crate::preauth::PreAuthStore;
use crate::revision::{RevisionHub, SessionObserver, Subscription};
use crate::session::{ServerSession, Stores};
use crate::storage::{StorageError, StoreNotice};

/// What went wrong with a manager call, by what the caller should do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManagerError {
    /// The URL or alias is invalid: fix the input.
    #[error(transparent)]
    InvalidInput(#[from] ServerInputError),
    /// Another server already uses this alias: choose another.
    #[error("alias {0} is already used by another server")]
    DuplicateAlias(Alias),
    /// This server is already added (under the given alias).
    #[error("server {0} is already added as {1}")]
    DuplicateServer(ServerId, Alias),
    /// No server with that alias.
    #[error("no server with alias {0:?}")]
    UnknownServer(String),
    /// Storage failed; nothing was changed. Try again later.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Holds every server and its session. Clones share the same manager.
#[derive(Clone)]
pub struct ServerManager {
    inner: Arc<Inner>,
}

struct Inner {
    servers: RwLock<Vec<Arc<ServerSession>>>,
    /// Serialises adding, removing and re-reading the server list.
    membership: Mutex<()>,
    hub: Arc<RevisionHub>,
    config: ManagerConfig,
    coordination: Option<Arc<Coordination>>,
    /// The change counter value the server list was last read at.
    seen_changes: AtomicU64,
    report: RestoreReport,
    /// What the stores repaired since the manager opened (the report has
    /// what they repaired while it opened).
    notices: Mutex<Vec<StoreNotice>>,
    preauth: PreAuthStore,
}

impl std::fmt::Debug for ServerManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerManager")
            .field("servers", &self.inner.servers.read().len())
            .field("revision", &self.connection_revision())
            .finish()
    }
}

impl ServerManager {
    /// Opens the manager, restoring every saved server as it was. With a
    /// lock directory, its files are created if needed.
    pub fn open(config: ManagerConfig) -> Result<Self, ManagerError> {
        let hub = Arc::new(RevisionHub::new());
        let coordination = match &config.lock_dir {
            Some(dir) => Some(Arc::new(Coordination::open(dir, config.tokens_in_lock_dir)?)),
            None => None,
        };
        let cross = coordination.as_deref().map(Coordination::commit_lock).transpose()?;
        let seen = coordination.as_deref().map_or(0, Coordination::changes);
        let (sessions, mut report) = membership::load(&config, &hub, coordination.as_ref(), seen)?;
        drop(cross);
        report.notices.extend(config.kv.take_notices());
        report.notices.extend(config.secrets.take_notices());
        for notice in &report.notices {
            tracing::error!(?notice, "a store repaired itself while opening");
        }
        let preauth = PreAuthStore::new(Arc::clone(&config.secrets), Arc::clone(&config.clock));
        let inner = Inner {
            servers: RwLock::new(sessions),
            membership: Mutex::new(()),
            hub,
            config,
            coordination,
            seen_changes: AtomicU64::new(seen),
            report,
            notices: Mutex::default(),
            preauth,
        };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// The pending browser logins, kept in this manager's secret store.
    pub fn preauth(&self) -> &PreAuthStore {
        &self.inner.preauth
    }

    /// The clock every expiry and TTL is measured by.
    pub fn clock(&self) -> SharedClock {
        Arc::clone(&self.inner.config.clock)
    }

    /// What [`open`](Self::open) found.
    pub fn restore_report(&self) -> &RestoreReport {
        &self.inner.report
    }

    /// What the stores repaired since the manager opened (a corrupt file
    /// moved aside), oldest first. Also logged at `error`.
    pub fn store_notices(&self) -> Vec<StoreNotice> {
        let fresh: Vec<_> =
            self.inner.config.kv.take_notices().into_iter().chain(self.inner.config.secrets.take_notices()).collect();
        for notice in &fresh {
            tracing::error!(?notice, "a store repaired itself");
        }
        let mut notices = self.inner.notices.lock();
        notices.extend(fresh);
        notices.clone()
    }

    /// Makes sure the refresh journal of `alias` exists with all its blocks
    /// allocated (it is otherwise created at the first refresh), so that a
    /// disk that fills up later can still keep rotated tokens and name an
    /// interrupted refresh. Call it after a sign-in. True when the journal
    /// is ready; false without a lock directory, for an unknown alias, or
    /// when there is no room for it. Cheap once done.
    pub fn prepare_journal(&self, alias: &str) -> bool {
        let (Some(coordination), Some(session)) = (&self.inner.coordination, self.find(alias)) else { return false };
        coordination.prepare_journal(&session.info().alias)
    }

    /// Every server, in alias order.
    pub fn servers(&self) -> Vec<ServerInfo> {
        self.inner.servers.read().iter().map(|s| s.info().clone()).collect()
    }

    /// The session of the server with `alias`. An alias this process has
    /// not seen yet is looked up in the shared stores first.
    pub fn session(&self, alias: &str) -> Option<Arc<ServerSession>> {
        let found = self.find(alias);
        if found.is_some() {
            return found;
        }
        self.catch_up_servers();
        self.find(alias)
    }

    fn find(&self, alias: &str) -> Option<Arc<ServerSession>> {
        self.inner.servers.read().iter().find(|s| s.info().alias.as_str() == alias).cloned()
    }

    /// The session of the server with base URL `id`.
    pub fn session_by_id(&self, id: &ServerId) -> Option<Arc<ServerSession>> {
        self.inner.servers.read().iter().find(|s| &s.info().id == id).cloned()
    }

    /// Every session.
    pub fn sessions(&self) -> Vec<Arc<ServerSession>> {
        self.inner.servers.read().clone()
    }

    /// The connection revision: bumped after every persisted change. Never blocks.
    pub fn connection_revision(&self) -> u64 {
        self.inner.hub.current()
    }

    /// Resolves with the revision once it is greater than `after_revision`.
    pub async fn changed(&self, after_revision: u64) -> u64 {
        self.inner.hub.changed(after_revision).await
    }

    /// How many [`changed`](Self::changed) waits are pending (diagnostics and
    /// tests: a cancelled or dropped watch leaves none behind).
    pub fn pending_waits(&self) -> usize {
        self.inner.hub.waiters()
    }

    /// Calls `observer` after every change until the subscription is dropped.
    pub fn subscribe(&self, observer: Arc<dyn SessionObserver>) -> Subscription {
        self.inner.hub.subscribe(observer)
    }

    /// Whether any server is `Active`.
    pub fn any_authenticated(&self) -> bool {
        self.inner.servers.read().iter().any(|s| s.is_authenticated())
    }

    /// May the router show `location`? `server_alias` is the server the route
    /// names, if any. See [`guard::decide`].
    pub fn guard(&self, location: &str, server_alias: Option<&str>, is_public: bool) -> GuardDecision {
        let server = match server_alias {
            None => RouteServer::None,
            Some(alias) => match self.find(alias) {
                Some(s) => RouteServer::Known(s.info().id.clone(), s.state_kind()),
                None => RouteServer::Unknown,
            },
        };
        guard::decide(location, &server, is_public, self.any_authenticated(), &self.inner.config.routes)
    }

    /// Call when the app returns to the foreground: catches up with other
    /// processes, then every session refreshes a token that expires within
    /// the threshold, concurrently.
    pub async fn on_resume(&self) {
        self.catch_up();
        let sessions = self.sessions();
        let results = join_all(sessions.iter().map(|s| s.on_resume())).await;
        for (s, r) in sessions.iter().zip(results) {
            if let Err(e) = r {
                tracing::warn!(server = %s.info().id, error = %e, "refresh on resume failed");
            }
        }
    }

    /// Re-reads the shared stores if another process changed them: servers
    /// it added or removed, and every session's state. Cheap otherwise (a
    /// memory load). Without a lock directory, only retries pending saves.
    pub fn catch_up(&self) {
        self.catch_up_servers();
        for session in self.sessions() {
            session.catch_up();
        }
    }

    /// Follows other processes while the manager lives: every `every`, a
    /// look at the change counter (a memory load) and, when it moved, a
    /// [`catch_up`](Self::catch_up), so observers and route guards see
    /// another process's sign-in, refresh, sign-out or removal within one
    /// period. Spawn it on the runtime; it ends when the manager is dropped.
    /// Without a lock directory it ends at once.
    pub fn follow_other_processes(&self, every: std::time::Duration) -> impl Future<Output = ()> + Send + 'static {
        let weak = Arc::downgrade(&self.inner);
        let counter = self.inner.coordination.clone();
        async move {
            let Some(counter) = counter else { return };
            let mut last = counter.changes();
            loop {
                tokio::time::sleep(every).await;
                let now = counter.changes();
                if now == last {
                    if weak.strong_count() == 0 {
                        return;
                    }
                    continue;
                }
                let Some(inner) = weak.upgrade() else { return };
                ServerManager { inner }.catch_up();
                last = now;
            }
        }
    }
}

fn stores(config: &ManagerConfig) -> Stores {
    Stores { secrets: Arc::clone(&config.secrets), kv: Arc::clone(&config.kv) }
}

impl Inner {
    /// Marks `seen` as read when nothing else moved the counter meanwhile.
    fn saw(&self, before: u64, after: u64) {
        let _ = self.seen_changes.compare_exchange(before, after, Ordering::AcqRel, Ordering::Acquire);
    }
}
