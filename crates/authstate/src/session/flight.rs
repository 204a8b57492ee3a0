//! The refresh itself: single-flight within the process, a lease across
//! processes, a journal entry before the refresh token leaves the device,
//! and the answer applied through the machine (DESIGN.md invariants 4–6,
//! 13 and 14).
//!
//! Guarantees: one token request per server at a time in this process (the
//! single flight) and across processes sharing a lock directory (the lease,
//! taken before the refresh token is presented; its holder re-reads the
//! stores first and sends nothing when another process already refreshed);
//! a flight that panics or is dropped ends as a transient failure for every
//! waiter and frees its slot; a refresh token whose answer was lost (the
//! journal still says "refreshing" for it) and that the server then rejects
//! expires the session as `RefreshInterrupted`, not `RefreshRejected`.

use std::sync::Arc;

use futures_util::FutureExt;

use super::{FlightResult, ServerSession, SessionError};
use crate::coordination::{JournalEntry, Lease};
use crate::machine::{Event, RefreshFailure, Verdict};
use crate::model::{SessionState, TokenGrant};
use crate::refresh::{RefreshError, TransientKind};
use crate::storage::flock::LockFailure;

impl ServerSession {
    /// Joins the refresh in flight, or starts one for `generation` unless the
    /// tokens already moved on, the backoff says wait, or the server already
    /// rejected this generation's refresh token.
    pub(super) fn refresh_from(
        self: &Arc<Self>,
        generation: u64,
    ) -> futures_util::future::BoxFuture<'static, FlightResult> {
        let me = Arc::clone(self);
        let precheck = || {
            if self.is_removed() {
                return Some(Err(SessionError::ServerRemoved));
            }
            let snap = self.snapshot();
            if snap.generation != generation {
                return Some(Ok(()));
            }
            if matches!(snap.state, SessionState::NoSession) {
                return Some(Err(SessionError::SignedOut));
            }
            let policy = self.policy.lock();
            if policy.rejected_generation == Some(generation) {
                return Some(Err(self.definitive_error()));
            }
            if let Some(wait) = policy.backoff.wait(self.clock.now()) {
                return Some(Err(SessionError::TryLater {
                    kind: policy.last_transient.unwrap_or(TransientKind::Network),
                    retry_after: Some(wait),
                }));
            }
            None
        };
        let work = move || async move { me.run_refresh(generation).await }.boxed();
        self.flight.join_or_start(
            precheck,
            work,
            Err(SessionError::Internal("no tokio runtime for the refresh".into())),
            Err(SessionError::TryLater { kind: TransientKind::Interrupted, retry_after: None }),
        )
    }

    /// The detached exchange: the lease, a fresh look at the stores, the
    /// journal entry, one token request, then its result applied.
    async fn run_refresh(self: Arc<Self>, generation: u64) -> FlightResult {
        let lease = self.take_lease().await?;
        if lease.is_some() {
            // Another process may have refreshed, signed out, or died mid-refresh.
            self.catch_up();
        }
        let snap = self.snapshot();
        if self.is_removed() {
            return Err(SessionError::ServerRemoved);
        }
        if snap.generation != generation {
            return Ok(());
        }
        let (Some(refresher), Some(tokens)) = (self.refresher.clone(), snap.state.tokens().cloned()) else {
            return Err(self.definitive_error());
        };
        if tokens.refresh.is_none() {
            return self.finish_refresh(generation, Err(RefreshError::NoRefreshToken), lease.as_ref());
        }
        if let Some(lease) = &lease {
            self.journal_refreshing(generation, lease);
        }
        tracing::debug!(server = %self.info.id, generation, "refreshing tokens");
        let result = refresher.refresh(&self.info, &tokens).await;
        self.finish_refresh(generation, result, lease.as_ref())
    }

    /// Takes this server's refresh lease when the stores are shared.
    async fn take_lease(&self) -> Result<Option<Lease>, SessionError> {
        let Some(coordination) = &self.coordination else { return Ok(None) };
        match coordination.lease(&self.info.alias, self.config.lease_wait, None).await {
            Ok(lease) => Ok(Some(lease)),
            Err(LockFailure::Busy | LockFailure::Cancelled) => {
                tracing::warn!(server = %self.info.id, waited_s = self.config.lease_wait.as_secs(), "another process has held the refresh lease too long");
                Err(SessionError::TryLater { kind: TransientKind::Timeout, retry_after: None })
            }
            Err(LockFailure::Io(e)) => {
                // Without the lease another process might refresh too; still
                // better than never refreshing. Logged as the fault it is.
                tracing::error!(server = %self.info.id, error = %e, "refresh lease unavailable; refreshing without it");
                Ok(None)
            }
        }
    }

    /// Reads the journal (did a previous holder die after presenting these
    /// tokens' refresh token?), then records that this refresh is starting.
    fn journal_refreshing(&self, generation: u64, lease: &Lease) {
        let (token_serial, unsaved_here) = {
            let commit = self.commit.lock();
            (commit.token_serial, commit.unsaved)
        };
        let previous = lease.read();
        if let Some(JournalEntry::Refreshing { token_serial: presented, pid, .. }) = &previous
            && *presented == token_serial
        {
            tracing::warn!(server = %self.info.id, previous_pid = pid, "an earlier refresh of these tokens was interrupted; the server may have rotated them");
            self.policy.lock().interrupted_generation = Some(generation);
        }
        // A state still waiting for the stores rides along with the refresh:
        // replacing it would lose it if this refresh fails or is killed.
        let unsaved = previous.as_ref().and_then(JournalEntry::unsaved).filter(|_| unsaved_here).cloned();
        let since_unix = self.clock.now().unix_timestamp();
        lease.record(&JournalEntry::Refreshing { token_serial, since_unix, pid: std::process::id(), unsaved });
    }

    /// Applies a refresh result: success rotates, transient backs off,
    /// definitive expires. The journal is cleared once the outcome is known
    /// and saved; it keeps "refreshing" when the answer is unknown (a
    /// timeout may hide a rotation).
    fn finish_refresh(
        &self,
        generation: u64,
        result: Result<TokenGrant, RefreshError>,
        lease: Option<&Lease>,
    ) -> FlightResult {
        let now = self.clock.now();
        match result {
            Ok(grant) => {
                {
                    let mut policy = self.policy.lock();
                    policy.backoff.reset();
                    policy.interrupted_generation = None;
                }
                let applied = self.apply_in(Event::Refreshed { generation, grant, at: now }, lease);
                if let (Ok(_), Some(lease)) = (&applied, lease) {
                    lease.record(&JournalEntry::Idle);
                }
                match applied {
                    Ok(Verdict::Discarded) => {
                        tracing::info!(server = %self.info.id, generation, "refresh result discarded: the session moved on");
                        Ok(())
                    }
                    Ok(_) => Ok(()),
                    // In use, pending persistence (and in the journal where allowed).
                    Err(e) => Err(e),
                }
            }
            Err(RefreshError::Transient { kind, retry_after }) => {
                let mut policy = self.policy.lock();
                policy.backoff.record_failure(&self.config.backoff, now, retry_after);
                policy.last_transient = Some(kind);
                let wait = policy.backoff.wait(now);
                drop(policy);
                tracing::warn!(server = %self.info.id, ?kind, retry_in_ms = wait.map(|w| w.whole_milliseconds() as i64), "refresh failed transiently; session kept");
                // The machine decides what a transient failure means (nothing, by invariant 2).
                let _ = self.apply_in(Event::RefreshFailed { generation, failure: RefreshFailure::Transient }, lease);
                Err(SessionError::TryLater { kind, retry_after: wait })
            }
            Err(error) => {
                let interrupted = {
                    let mut policy = self.policy.lock();
                    policy.rejected_generation = Some(generation);
                    policy.interrupted_generation == Some(generation)
                };
                let failure = match error {
                    RefreshError::NoRefreshToken => RefreshFailure::NoRefreshToken,
                    RefreshError::Configuration { .. } => RefreshFailure::Misconfigured,
                    _ if interrupted => RefreshFailure::Interrupted,
                    _ => RefreshFailure::Rejected,
                };
                match failure {
                    RefreshFailure::Misconfigured => {
                        tracing::error!(server = %self.info.id, error = %error, "refresh endpoint misconfigured; session expired, tokens kept")
                    }
                    RefreshFailure::Interrupted => {
                        tracing::warn!(server = %self.info.id, error = %error, "refresh token rejected after an interrupted refresh: its answer was lost; session expired, tokens kept")
                    }
                    _ => {
                        tracing::warn!(server = %self.info.id, error = %error, "refresh rejected; session expired, tokens kept")
                    }
                }
                let _ = self.apply_in(Event::RefreshFailed { generation, failure }, lease);
                if let Some(lease) = lease {
                    lease.record(&JournalEntry::Idle);
                }
                Err(self.refresh_error(&error))
            }
        }
    }
}
