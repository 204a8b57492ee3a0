//! Which servers the manager holds: loading them from the stores, adding,
//! removing, and following other processes' additions and removals.
//!
//! Guarantees: a record that contradicts its key or another record is
//! refused and reported, never loaded twice (invariant 12); with a lock
//! directory, adding and removing happen under the cross-process commit
//! lock after re-reading the list, so two processes never both add one
//! alias, and each sees the other's servers at its next look (invariant 14).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::report::{RecordProblem, RejectedRecord, RestoreReport};
use super::{ManagerConfig, ManagerError, ServerManager, stores};
use crate::coordination::Coordination;
use crate::model::{Alias, Provider, ServerId, ServerInfo, SessionState, StateKind};
use crate::revision::RevisionHub;
use crate::session::{Restored, ServerSession, SessionParts, restore, write_record};
use crate::storage::schema::{self, ServerRecord, StoredShape};
use crate::storage::{StorageError, optional};

/// Reads every server record and restores its session, in alias order.
pub(super) fn load(
    config: &ManagerConfig,
    hub: &Arc<RevisionHub>,
    coordination: Option<&Arc<Coordination>>,
    seen: u64,
) -> Result<(Vec<Arc<ServerSession>>, RestoreReport), ManagerError> {
    let mut report = RestoreReport::default();
    let mut sessions: Vec<Arc<ServerSession>> = Vec::new();
    for (key, record) in records(config, &mut report)? {
        if let Some(first) = sessions.iter().find(|s| s.info().id == record.server.id) {
            let problem =
                RecordProblem::DuplicateServer { server: record.server.id.clone(), first: first.info().alias.clone() };
            tracing::error!(key, %problem, "server record refused");
            report.rejected.push(RejectedRecord { key, problem });
            continue;
        }
        let restored = restore_or_report(&record, config, coordination, &mut report)?;
        sessions.push(Arc::new(session(config, hub, coordination, seen, record.server, restored)));
    }
    report.restored = sessions.len();
    report.rejected.sort_by(|a, b| a.key.cmp(&b.key));
    Ok((sessions, report))
}

/// Every readable server record whose alias matches its key, sorted by key.
fn records(config: &ManagerConfig, report: &mut RestoreReport) -> Result<Vec<(String, ServerRecord)>, ManagerError> {
    let mut out = Vec::new();
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
        if schema::server_key(record.server.alias.as_str()) != key {
            let problem = RecordProblem::AliasMismatch(record.server.alias.clone());
            tracing::error!(key, %problem, "server record refused");
            report.rejected.push(RejectedRecord { key, problem });
            continue;
        }
        out.push((key, record));
    }
    Ok(out)
}

/// Restores one record; corrupt tokens restore the server signed out.
fn restore_or_report(
    record: &ServerRecord,
    config: &ManagerConfig,
    coordination: Option<&Arc<Coordination>>,
    report: &mut RestoreReport,
) -> Result<Restored, ManagerError> {
    let restored = match restore(record, &stores(config), coordination.map(Arc::as_ref)) {
        Ok(restored) => restored,
        Err(StorageError::Corrupt { key, .. }) => {
            report.corrupt.push(key);
            Restored::signed_out()
        }
        Err(e) => return Err(e.into()),
    };
    let alias = record.server.alias.to_string();
    if restored.tokens_missing {
        report.tokens_missing.push(alias.clone());
    }
    if restored.interrupted {
        report.interrupted_refreshes.push(alias.clone());
    }
    if restored.unsaved {
        report.recovered_from_journal.push(alias);
    }
    Ok(restored)
}

fn session(
    config: &ManagerConfig,
    hub: &Arc<RevisionHub>,
    coordination: Option<&Arc<Coordination>>,
    seen: u64,
    info: ServerInfo,
    restored: Restored,
) -> ServerSession {
    let refresher = config.refreshers.refresher_for(&info);
    ServerSession::new(SessionParts {
        info,
        restored,
        stores: stores(config),
        hub: Arc::clone(hub),
        coordination: coordination.cloned(),
        seen_changes: seen,
        refresher,
        clock: Arc::clone(&config.clock),
        config: config.session,
    })
}

impl ServerManager {
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
        let inner = &self.inner;
        // Declared before the lock, so it publishes after the lock is released.
        let mut deferred = Deferred { changes: ListChanges::default(), hub: &inner.hub };
        let membership = inner.membership.lock();
        let cross = inner.coordination.as_deref().map(Coordination::commit_lock).transpose()?;
        // Another process may have added servers: look at the list as stored.
        deferred.changes = self.reload_servers_locked();
        for s in inner.servers.read().iter() {
            if s.info().id == id {
                return Err(ManagerError::DuplicateServer(id, s.info().alias.clone()));
            }
            if s.info().alias == alias {
                return Err(ManagerError::DuplicateAlias(alias));
            }
        }
        let info = ServerInfo { id, alias, provider };
        write_record(&info, &stores(&inner.config), &SessionState::NoSession, 0)?;
        let seen = self.announce();
        drop(cross);
        let restored = Restored { stored: StoredShape::SIGNED_OUT, ..Restored::signed_out() };
        let session = Arc::new(session(&inner.config, &inner.hub, inner.coordination.as_ref(), seen, info, restored));
        {
            let mut servers = inner.servers.write();
            servers.push(Arc::clone(&session));
            servers.sort_by(|a, b| a.info().alias.cmp(&b.info().alias));
        }
        // Logged and announced outside the lock: a log sink or observer
        // that calls back into the manager must not deadlock.
        drop(membership);
        tracing::info!(server = %session.info().id, alias = %session.info().alias, "server added");
        inner.hub.bump(&session.info().id, StateKind::NoSession);
        Ok(session)
    }

    /// Removes a server: its tokens and record are deleted, its work
    /// cancelled, and a session object still held for it holds nothing more.
    /// On a storage failure nothing is removed.
    pub fn remove_server(&self, alias: &str) -> Result<(), ManagerError> {
        let inner = &self.inner;
        // Declared before the lock, so it publishes after the lock is released.
        let mut deferred = Deferred { changes: ListChanges::default(), hub: &inner.hub };
        let membership = inner.membership.lock();
        let cross = inner.coordination.as_deref().map(Coordination::commit_lock).transpose()?;
        deferred.changes = self.reload_servers_locked();
        let session = self.find(alias).ok_or_else(|| ManagerError::UnknownServer(alias.to_owned()))?;
        let stores = session.stores();
        stores.secrets.delete(&schema::tokens_key(alias))?;
        stores.kv.delete(&schema::device_key(alias))?;
        stores.kv.delete(&schema::server_key(alias))?;
        if let Some(coordination) = &inner.coordination {
            coordination.forget(&session.info().alias);
        }
        self.announce();
        drop(cross);
        session.mark_removed();
        inner.servers.write().retain(|s| !Arc::ptr_eq(s, &session));
        drop(membership);
        tracing::info!(server = %session.info().id, alias, "server removed");
        inner.hub.bump(&session.info().id, StateKind::NoSession);
        Ok(())
    }

    /// Re-reads the server list if another process changed the stores.
    pub(super) fn catch_up_servers(&self) {
        let inner = &self.inner;
        let Some(coordination) = &inner.coordination else { return };
        if coordination.changes() == inner.seen_changes.load(Ordering::Acquire) {
            return;
        }
        let membership = inner.membership.lock();
        let changes = match coordination.commit_lock() {
            Ok(_cross) => self.reload_servers_locked(),
            Err(e) => ListChanges { failure: Some(e.to_string()), ..ListChanges::default() },
        };
        drop(membership);
        changes.publish(&inner.hub);
    }

    /// With the membership and commit locks held: adopts servers another
    /// process added, and drops those it removed. What changed is logged and
    /// announced by the caller once the locks are released.
    fn reload_servers_locked(&self) -> ListChanges {
        let inner = &self.inner;
        let mut changes = ListChanges::default();
        let Some(coordination) = &inner.coordination else { return changes };
        let counter = coordination.changes();
        if counter == inner.seen_changes.load(Ordering::Acquire) {
            return changes;
        }
        let mut report = RestoreReport::default();
        let stored = match records(&inner.config, &mut report) {
            Ok(stored) => stored,
            Err(e) => {
                changes.failure = Some(e.to_string());
                return changes;
            }
        };
        let held = self.sessions();
        for gone in held.iter().filter(|s| !stored.iter().any(|(_, r)| r.server.alias == s.info().alias)) {
            gone.mark_removed();
            inner.servers.write().retain(|s| !Arc::ptr_eq(s, gone));
            changes.removed.push(Arc::clone(gone));
        }
        for (_, record) in stored {
            let known = inner
                .servers
                .read()
                .iter()
                .any(|s| s.info().alias == record.server.alias || s.info().id == record.server.id);
            if known {
                continue;
            }
            let alias = record.server.alias.clone();
            let restored = match restore_or_report(&record, &inner.config, Some(coordination), &mut report) {
                Ok(restored) => restored,
                Err(e) => {
                    changes.unreadable.push((alias, e.to_string()));
                    continue;
                }
            };
            let session =
                Arc::new(session(&inner.config, &inner.hub, Some(coordination), counter, record.server, restored));
            {
                let mut servers = inner.servers.write();
                servers.push(Arc::clone(&session));
                servers.sort_by(|a, b| a.info().alias.cmp(&b.info().alias));
            }
            changes.added.push(session);
        }
        inner.seen_changes.store(counter, Ordering::Release);
        changes
    }

    /// Bumps the change counter after a write to the server list; returns
    /// the value this manager has now seen.
    fn announce(&self) -> u64 {
        let inner = &self.inner;
        let Some(coordination) = &inner.coordination else { return 0 };
        let before = coordination.changes();
        let after = coordination.bump();
        inner.saw(before, after);
        after
    }
}

/// What a re-read of the server list changed, to log and announce once the
/// membership lock is released (a log sink or observer may call back in).
#[derive(Default)]
struct ListChanges {
    removed: Vec<Arc<ServerSession>>,
    added: Vec<Arc<ServerSession>>,
    unreadable: Vec<(Alias, String)>,
    failure: Option<String>,
}

impl ListChanges {
    /// Logs each change and bumps the revision for it.
    fn publish(self, hub: &RevisionHub) {
        if let Some(error) = &self.failure {
            tracing::warn!(%error, "could not re-read the server list");
        }
        for gone in &self.removed {
            tracing::info!(server = %gone.info().id, alias = %gone.info().alias, "server removed by another process");
            hub.bump(&gone.info().id, StateKind::NoSession);
        }
        for (alias, error) in &self.unreadable {
            tracing::warn!(%error, %alias, "could not read a server another process added");
        }
        for added in &self.added {
            tracing::info!(server = %added.info().id, alias = %added.info().alias, "server added by another process");
            hub.bump(&added.info().id, added.state_kind());
        }
    }
}

/// Changes published when dropped: declared before the membership lock is
/// taken, it drops after the lock on every return path.
struct Deferred<'a> {
    changes: ListChanges,
    hub: &'a RevisionHub,
}

impl Drop for Deferred<'_> {
    fn drop(&mut self) {
        std::mem::take(&mut self.changes).publish(self.hub);
    }
}
