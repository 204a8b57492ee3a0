//! The servers an app talks to, and the one connection revision over all of
//! them (DESIGN.md invariant 9).
//!
//! Adding, removing and every per-server transition bump the revision after
//! persisting; [`ServerManager::changed`] resolves once it passes a value, which
//! is how every language observes without callbacks. Opening restores each
//! server as it was saved (invariant 10); an unavailable store fails the open
//! instead of reading as empty (invariant 12).

mod config;

use std::sync::Arc;

use futures_util::future::join_all;
use parking_lot::{Mutex, RwLock};

pub use config::ManagerConfig;

use crate::clock::SharedClock;
use crate::guard::{self, GuardDecision, RouteServer};
use crate::model::{Alias, Provider, ServerId, ServerInfo, ServerInputError, SessionState, StateKind};
use crate::preauth::PreAuthStore;
use crate::revision::{RevisionHub, SessionObserver, Subscription};
use crate::session::{Restored, ServerSession, SessionParts, Stores, restore_state, write_record};
use crate::storage::schema::{self, ServerRecord};
use crate::storage::{StorageError, optional};

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

/// What opening found in storage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreReport {
    /// Servers restored.
    pub restored: usize,
    /// Keys whose content could not be read; those servers were skipped or restored signed out.
    pub corrupt: Vec<String>,
    /// Aliases whose record claimed a session while the secret store had no
    /// tokens (a wiped keychain); those servers were restored signed out.
    pub tokens_missing: Vec<String>,
}

/// Holds every server and its session. Clones share the same manager.
#[derive(Clone)]
pub struct ServerManager {
    inner: Arc<Inner>,
}

struct Inner {
    servers: RwLock<Vec<Arc<ServerSession>>>,
    registry: Mutex<()>,
    hub: Arc<RevisionHub>,
    config: ManagerConfig,
    report: RestoreReport,
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
    /// Opens the manager, restoring every saved server as it was.
    pub fn open(config: ManagerConfig) -> Result<Self, ManagerError> {
        let hub = Arc::new(RevisionHub::new());
        let mut report = RestoreReport::default();
        let mut sessions = Vec::new();
        let stores = stores(&config);
        for key in config.kv.keys(schema::SERVER_PREFIX)? {
            let Some(json) = optional(config.kv.get(&key))? else { continue };
            let record = match serde_json::from_str::<ServerRecord>(&json) {
                Ok(r) if schema::is_supported(r.schema_version) => r,
                _ => {
                    tracing::error!(key, "unreadable server record skipped");
                    report.corrupt.push(key);
                    continue;
                }
            };
            let restored = match restore_state(&record, &stores) {
                Ok(restored) => restored,
                Err(StorageError::Corrupt { key, .. }) => {
                    report.corrupt.push(key);
                    Restored { state: SessionState::NoSession, token_serial: 0, tokens_missing: false }
                }
                Err(e) => return Err(e.into()),
            };
            if restored.tokens_missing {
                report.tokens_missing.push(record.server.alias.to_string());
            }
            sessions.push(Arc::new(session(&config, &hub, record.server, restored.state, restored.token_serial)));
        }
        sessions.sort_by(|a, b| a.info().alias.cmp(&b.info().alias));
        report.restored = sessions.len();
        let preauth = PreAuthStore::new(Arc::clone(&config.secrets), Arc::clone(&config.clock));
        let inner = Inner { servers: RwLock::new(sessions), registry: Mutex::new(()), hub, config, report, preauth };
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

    /// Adds a server, signed out. `alias` defaults to one derived from the host.
    pub fn add_server(
        &self,
        url: &str,
        alias: Option<&str>,
        provider: Provider,
    ) -> Result<Arc<ServerSession>, ManagerError> {
        let id = ServerId::parse(url)?;
        provider.validate()?;
        let alias = match alias {
            Some(a) => Alias::new(a)?,
            None => id.suggested_alias(),
        };
        let _registry = self.inner.registry.lock();
        for s in self.inner.servers.read().iter() {
            if s.info().id == id {
                return Err(ManagerError::DuplicateServer(id, s.info().alias.clone()));
            }
            if s.info().alias == alias {
                return Err(ManagerError::DuplicateAlias(alias));
            }
        }
        let info = ServerInfo { id, alias, provider };
        write_record(&info, &stores(&self.inner.config), &SessionState::NoSession, 0)?;
        let session = Arc::new(session(&self.inner.config, &self.inner.hub, info, SessionState::NoSession, 0));
        self.inner.servers.write().push(Arc::clone(&session));
        tracing::info!(server = %session.info().id, alias = %session.info().alias, "server added");
        self.inner.hub.bump(&session.info().id, StateKind::NoSession);
        Ok(session)
    }

    /// Removes a server: its tokens and record are deleted, its work cancelled.
    /// On a storage failure nothing is removed.
    pub fn remove_server(&self, alias: &str) -> Result<(), ManagerError> {
        let _registry = self.inner.registry.lock();
        let session = self.session(alias).ok_or_else(|| ManagerError::UnknownServer(alias.to_owned()))?;
        let stores = session.stores();
        stores.secrets.delete(&schema::tokens_key(alias))?;
        stores.kv.delete(&schema::device_key(alias))?;
        stores.kv.delete(&schema::server_key(alias))?;
        session.mark_removed();
        self.inner.servers.write().retain(|s| !Arc::ptr_eq(s, &session));
        tracing::info!(server = %session.info().id, alias, "server removed");
        self.inner.hub.bump(&session.info().id, StateKind::NoSession);
        Ok(())
    }

    /// Every server, in alias order.
    pub fn servers(&self) -> Vec<ServerInfo> {
        self.inner.servers.read().iter().map(|s| s.info().clone()).collect()
    }

    /// The session of the server with `alias`.
    pub fn session(&self, alias: &str) -> Option<Arc<ServerSession>> {
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
            Some(alias) => match self.session(alias) {
                Some(s) => RouteServer::Known(s.info().id.clone(), s.state_kind()),
                None => RouteServer::Unknown,
            },
        };
        guard::decide(location, &server, is_public, self.any_authenticated(), &self.inner.config.routes)
    }

    /// Call when the app returns to the foreground: every session refreshes a
    /// token that expires within the threshold, concurrently.
    pub async fn on_resume(&self) {
        let sessions = self.sessions();
        let results = join_all(sessions.iter().map(|s| s.on_resume())).await;
        for (s, r) in sessions.iter().zip(results) {
            if let Err(e) = r {
                tracing::warn!(server = %s.info().id, error = %e, "refresh on resume failed");
            }
        }
    }
}

fn stores(config: &ManagerConfig) -> Stores {
    Stores { secrets: Arc::clone(&config.secrets), kv: Arc::clone(&config.kv) }
}

fn session(
    config: &ManagerConfig,
    hub: &Arc<RevisionHub>,
    info: ServerInfo,
    initial: SessionState,
    token_serial: u64,
) -> ServerSession {
    let refresher = config.refreshers.refresher_for(&info);
    ServerSession::new(SessionParts {
        info,
        initial,
        token_serial,
        stores: stores(config),
        hub: Arc::clone(hub),
        refresher,
        clock: Arc::clone(&config.clock),
        config: config.session,
    })
}
