//! Keeping memory and the stores in step: catching up with what other
//! processes stored, saving what this one could not, and recording in the
//! journal what the stores refused (DESIGN.md invariants 13 and 14).
//!
//! Guarantees: a state another process stored is adopted at this session's
//! next token read, `on_resume` or event, never overwritten by an older one
//! from memory; a state memory holds but the stores refused is retried at
//! every one of those calls until it lands, and never replaced by older
//! tokens; where the lock directory may hold tokens, the journal keeps it
//! across a crash.

use std::sync::atomic::Ordering;

use super::persist::{self, Restored, next_serial, tokens_record};
use super::{Aftermath, Commit, ServerSession};
use crate::coordination::{Coordination, JournalEntry, Lease, UnsavedState};
use crate::machine::{Effect, Event, Step, transition};
use crate::model::{ExpiryReason, ServerInfo, SessionState, StateKind};
use crate::storage::StorageError;
use crate::storage::schema::{ServerRecord, StoredShape};

impl ServerSession {
    /// Catches up with the stores when another process changed them, and
    /// retries a pending save. Cheap when neither is the case (a memory load).
    pub(crate) fn catch_up(&self) {
        if self.is_removed() || (!self.stores_moved() && !self.persistence_pending()) {
            return;
        }
        let mut after = Aftermath::new(self);
        let mut commit = self.commit.lock();
        if commit.removed {
            return;
        }
        let cross = match self.cross_lock() {
            Ok(cross) => cross,
            Err(e) => {
                drop(commit);
                tracing::warn!(server = %self.info.id, error = %e, "could not catch up with the stores");
                return;
            }
        };
        self.sync_locked(&mut commit, &mut after);
        self.flush_locked(&mut commit, None, &mut after);
        drop((cross, commit));
    }

    /// Whether another process (or another session) stored something since
    /// this session last read the stores.
    pub(crate) fn stores_moved(&self) -> bool {
        self.coordination.as_ref().is_some_and(|c| c.changes() != self.seen_changes.load(Ordering::Acquire))
    }

    /// Re-reads the stores (and the journal) when the change counter moved,
    /// and adopts what they hold if another process changed it.
    pub(super) fn sync_locked(&self, commit: &mut Commit, after: &mut Aftermath<'_>) {
        let Some(coordination) = &self.coordination else { return };
        let counter = coordination.changes();
        if counter == self.seen_changes.load(Ordering::Acquire) {
            return;
        }
        let stored = match persist::read_current(&self.info, &self.stores) {
            Ok(Some(stored)) => stored,
            Ok(None) => {
                // Another process removed the server.
                commit.removed = true;
                self.removed.store(true, Ordering::Release);
                self.adopt(commit, Restored::signed_out(), true, after);
                self.seen_changes.store(counter, Ordering::Release);
                return;
            }
            Err(e) => {
                // Left unseen: the next call tries again.
                tracing::warn!(server = %self.info.id, error = %e, "could not re-read the stores");
                return;
            }
        };
        let journaled = self.coordination.as_deref().and_then(|c| journaled_over(c, &self.info, &stored.stored));
        if let Some(unsaved) = journaled {
            self.adopt(commit, unsaved, false, after);
        } else if stored.stored != commit.stored {
            tracing::info!(server = %self.info.id, stored = ?stored.stored.session, "adopting what another process stored");
            self.adopt(commit, stored, false, after);
        }
        self.seen_changes.store(counter, Ordering::Release);
    }

    /// Makes `restored` the session's state (or, with `removed`, ends it).
    fn adopt(&self, commit: &mut Commit, restored: Restored, removed: bool, after: &mut Aftermath<'_>) {
        let event = if removed { Event::Removed } else { Event::Reload(restored.state) };
        commit.token_serial = restored.token_serial;
        commit.stored = restored.stored;
        commit.unsaved = restored.unsaved;
        if restored.interrupted {
            self.policy.lock().interrupted_generation = Some(self.generation().wrapping_add(1));
        }
        let current = self.snapshot();
        match transition(&current, event) {
            Ok(step) if step.next != *current => {
                after.published(step.next.state.kind(), &step.effects);
                self.publish(commit, step.next);
            }
            _ => self.pending.store(commit.unsaved, Ordering::Release),
        }
    }

    /// Retries saving a pending state in full.
    pub(super) fn flush_locked(&self, commit: &mut Commit, lease: Option<&Lease>, after: &mut Aftermath<'_>) {
        if !commit.unsaved {
            return;
        }
        let current = self.snapshot();
        if current.state.tokens().is_some() && commit.token_serial <= commit.stored.token_serial {
            // Never write these tokens under a serial the stores already used.
            commit.token_serial = next_serial(commit.stored.token_serial);
        }
        match persist::write_full(&self.info, &self.stores, &current.state, commit.token_serial) {
            Ok(()) => {
                commit.unsaved = false;
                commit.stored = StoredShape::of(&current.state, commit.token_serial);
                self.pending.store(false, Ordering::Release);
                self.announce_write();
                self.spend_journal(lease);
                tracing::info!(server = %self.info.id, "the pending session state is saved");
                // The pending flag is part of what observers see.
                after.bumps.push(current.state.kind());
            }
            Err(e) => tracing::debug!(server = %self.info.id, error = %e, "pending session state still not saved"),
        }
    }

    /// Writes the effects of `step`: only what changed, or the whole state
    /// when memory was already ahead of the stores. A failure leaves the
    /// state pending (and, where allowed, in the journal).
    pub(super) fn persist_locked(
        &self,
        commit: &mut Commit,
        step: &Step,
        lease: Option<&Lease>,
    ) -> Result<(), StorageError> {
        let result = if commit.unsaved {
            if step.effects.contains(&Effect::PersistTokens) {
                commit.token_serial = next_serial(commit.token_serial.max(commit.stored.token_serial));
            }
            persist::write_full(&self.info, &self.stores, &step.next.state, commit.token_serial)
        } else {
            persist::run_effects(&self.info, &self.stores, step, &mut commit.token_serial)
        };
        match &result {
            Ok(()) => {
                commit.unsaved = false;
                commit.stored = StoredShape::of(&step.next.state, commit.token_serial);
                self.spend_journal(lease);
            }
            Err(_) => {
                commit.unsaved = true;
                self.journal_unsaved(commit, &step.next.state, lease);
            }
        }
        self.announce_write();
        result
    }

    /// The stores took the session's state, which includes any state the
    /// journal kept (it was adopted before this write): a journaled state is
    /// spent now. It is cleared, so that it is never adopted over a later
    /// stored state that looks the same as the one it was written over (a
    /// sign-in after a sign-out starts the token serials again).
    fn spend_journal(&self, lease: Option<&Lease>) {
        let Some(coordination) = &self.coordination else { return };
        let spend = |lease: &Lease| match lease.read() {
            Some(entry) if entry.unsaved().is_some() => lease.record(&entry.spent()),
            _ => true,
        };
        if coordination.peek_journal(&self.info.alias).is_none_or(|entry| entry.unsaved().is_none()) {
            return;
        }
        // With the lease held elsewhere, that refresh writes over the entry
        // ("refreshing", then "idle"); else the next save here tries again.
        let cleared = match lease {
            Some(lease) => spend(lease),
            None => coordination.try_lease(&self.info.alias).is_some_and(|lease| spend(&lease)),
        };
        if !cleared {
            tracing::warn!(server = %self.info.id, "a spent journal entry could not be cleared yet");
        }
    }

    /// Bumps the change counter after a write, keeping this session's view
    /// current when no other process wrote in between (all writes happen
    /// under the commit lock, so none can).
    fn announce_write(&self) {
        let Some(coordination) = &self.coordination else { return };
        let before = coordination.changes();
        let after = coordination.bump();
        let _ = self.seen_changes.compare_exchange(before, after, Ordering::AcqRel, Ordering::Acquire);
    }

    /// Keeps a state the stores refused in the journal, when the lock
    /// directory may hold it (tokens only where it is as private as the
    /// secret store) and the lease can be had.
    fn journal_unsaved(&self, commit: &Commit, state: &SessionState, lease: Option<&Lease>) {
        let Some(coordination) = &self.coordination else { return };
        if state.tokens().is_some() && !coordination.tokens_in_journal() {
            return;
        }
        let entry = JournalEntry::Unsaved(UnsavedState {
            based_on: commit.stored,
            session: state.kind(),
            expiry_reason: state.expiry_reason(),
            tokens: tokens_record(self.info.provider.kind(), state, commit.token_serial),
        });
        let recorded = match lease {
            Some(lease) => lease.record(&entry),
            None => coordination.try_lease(&self.info.alias).is_some_and(|lease| lease.record(&entry)),
        };
        if recorded {
            tracing::warn!(server = %self.info.id, "the stores refused the session state; it is kept in the journal until they take it");
        }
    }
}

/// Reads `record`'s state back for a process that opens the stores: the
/// stores' state, or the journal's when it is newer (a state the stores
/// refused), and whether a refresh of the stored tokens was interrupted.
pub(crate) fn restore(
    record: &ServerRecord,
    stores: &super::Stores,
    coordination: Option<&Coordination>,
) -> Result<Restored, StorageError> {
    let stored = persist::restore_state(record, stores)?;
    let Some(coordination) = coordination else { return Ok(stored) };
    let restored = journaled_over(coordination, &record.server, &stored.stored).unwrap_or(stored);
    // With the lease free, a journal still saying "refreshing" for the
    // tokens restored means its writer died before the answer was saved.
    let interrupted = restored.token_serial != 0
        && coordination.try_lease(&record.server.alias).is_some_and(|lease| {
            matches!(lease.read(), Some(JournalEntry::Refreshing { token_serial, .. }) if token_serial == restored.token_serial)
        });
    if interrupted {
        tracing::warn!(server = %record.server.id, "a refresh of the saved tokens was interrupted before its answer was saved");
    }
    Ok(Restored { interrupted, ..restored })
}

/// The journal's unsaved state for `info`, if it was written over exactly
/// what the stores hold now (it is then newer than the stores).
fn journaled_over(coordination: &Coordination, info: &ServerInfo, stored: &StoredShape) -> Option<Restored> {
    let entry = coordination.peek_journal(&info.alias)?;
    let unsaved = entry.unsaved()?.clone();
    if unsaved.based_on != *stored {
        return None;
    }
    let token_serial = unsaved.tokens.as_ref().map_or(0, |t| t.serial);
    let state = match (unsaved.session, unsaved.tokens) {
        (StateKind::NoSession, _) => SessionState::NoSession,
        (StateKind::Active, Some(t)) => SessionState::Active { provider: t.provider, tokens: t.tokens },
        (StateKind::Expired, Some(t)) => SessionState::Expired {
            provider: t.provider,
            tokens: t.tokens,
            reason: unsaved.expiry_reason.unwrap_or(ExpiryReason::Marked),
        },
        _ => return None,
    };
    tracing::warn!(server = %info.id, session = ?unsaved.session, "recovering a state the stores could not take, from the journal");
    Some(Restored { state, token_serial, stored: *stored, unsaved: true, ..Restored::signed_out() })
}
