//! Handing out access tokens: the fast path, proactive refresh, recovery
//! from a 401 (DESIGN.md invariants 6–8). The refresh behind them is in
//! `flight.rs`.

use std::sync::Arc;

use super::{ServerSession, SessionError};
use crate::cancel::{CancelReason, CancelToken};
use crate::machine::{Event, RefreshFailure, Verdict};
use crate::model::{ExpiryReason, Secret, SessionState};

impl ServerSession {
    /// The access token if the session is `Active` and the token is not within
    /// the refresh threshold. Never blocks and never does I/O. `None` as well
    /// when another process changed the shared stores since this session
    /// last read them: the async calls catch up first, so a token another
    /// process signed out is never handed out.
    pub fn valid_access_token(&self) -> Option<Secret> {
        if self.stores_moved() {
            return None;
        }
        let fast = self.fast.read();
        match &fast.access {
            Some(access) if self.clock.unix_nanos() < fast.use_until_unix_nanos => Some(access.clone()),
            _ => None,
        }
    }

    /// A usable access token, refreshing first when it expires within the
    /// threshold (or the session is `Expired` and may be revived). Concurrent
    /// callers share one refresh. A transient failure while the old token is
    /// still valid returns the old token. Rotated tokens the stores could not
    /// take are handed out (the server retired the old ones) and
    /// [pending persistence](Self::persistence_pending).
    pub async fn fresh_access_token(self: &Arc<Self>) -> Result<Secret, SessionError> {
        self.fresh_access_token_with(None).await
    }

    /// Like [`fresh_access_token`](Self::fresh_access_token), giving up with
    /// `Cancelled` when `cancel` fires. The refresh itself is not interrupted.
    pub async fn fresh_access_token_with(
        self: &Arc<Self>,
        cancel: Option<&CancelToken>,
    ) -> Result<Secret, SessionError> {
        if let Some(token) = self.valid_access_token() {
            return Ok(token);
        }
        self.catch_up();
        if self.is_removed() {
            return Err(SessionError::ServerRemoved);
        }
        // A sign-out ends the wait at once (invariant 11); an expiry comes as the refresh's own result.
        let epoch = self.work_epoch();
        // At most two rounds: one refresh, then read what it produced.
        for _ in 0..2 {
            let snap = self.snapshot();
            let now = self.clock.now();
            let tokens = match &snap.state {
                SessionState::NoSession => return Err(SessionError::SignedOut),
                SessionState::Active { tokens, .. } if !tokens.refresh_due(now, self.config.refresh_threshold) => {
                    return Ok(tokens.access.clone());
                }
                SessionState::Active { tokens, .. } | SessionState::Expired { tokens, .. } => tokens.clone(),
            };
            if tokens.refresh.is_none() || self.refresher.is_none() {
                return self.without_refresh(&snap.state, snap.generation);
            }
            match with_cancel(self.refresh_from(snap.generation), cancel, &epoch).await {
                // Stored or not, new tokens are the only valid ones now.
                Ok(()) | Err(SessionError::Storage(_)) => match &self.snapshot().state {
                    // The refresh produced new tokens: use them, even if a
                    // short lifetime makes them due again already.
                    SessionState::Active { tokens: fresh, .. }
                        if fresh.access != tokens.access && !fresh.is_expired(self.clock.now()) =>
                    {
                        return Ok(fresh.access.clone());
                    }
                    _ => continue,
                },
                Err(SessionError::TryLater { .. }) if !tokens.is_expired(now) && snap.state.is_authenticated() => {
                    // Still valid for a while: use it, the next call retries after backoff.
                    return Ok(tokens.access.clone());
                }
                Err(e) => return Err(e),
            }
        }
        self.valid_or_current()
    }

    /// Forces one refresh now (single-flight with any refresh in progress).
    /// `Err(Storage)`: refreshed, and the new tokens are in use, but the
    /// stores could not take them yet (retried).
    pub async fn refresh(self: &Arc<Self>) -> Result<(), SessionError> {
        self.catch_up();
        let generation = self.generation();
        self.refresh_from(generation).await
    }

    /// A resource answered 401 to a request that carried `token_used`. Returns
    /// the token to retry with: the current one if it is newer than the one
    /// used (no refresh), else a refreshed one. Fails with `SignInRequired`
    /// when the refresh fails definitively (the session is then `Expired`).
    pub async fn recover_from_401(self: &Arc<Self>, token_used: &str) -> Result<Secret, SessionError> {
        let generation = self.generation();
        match self.apply(Event::Unauthorized { token_used: Secret::new(token_used) })? {
            Verdict::RetryWithCurrentToken => self.valid_or_current(),
            Verdict::RefreshAndRetry => {
                match self.refresh_from(generation).await {
                    Ok(()) | Err(SessionError::Storage(_)) => {}
                    Err(e) => return Err(e),
                }
                self.valid_or_current()
            }
            _ => Err(self.definitive_error()),
        }
    }

    /// Call when the app returns to the foreground: catches up with other
    /// processes, retries a pending save, and refreshes a token that expires
    /// within the threshold. Transient failures are logged, not returned.
    pub async fn on_resume(self: &Arc<Self>) -> Result<(), SessionError> {
        self.catch_up();
        match self.fresh_access_token().await {
            Ok(_) | Err(SessionError::TryLater { .. }) | Err(SessionError::SignedOut) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Whether a refresh is in progress.
    pub fn refresh_in_flight(&self) -> bool {
        self.flight.in_flight()
    }

    fn valid_or_current(&self) -> Result<Secret, SessionError> {
        match &self.snapshot().state {
            SessionState::Active { tokens, .. } if !self.is_removed() => Ok(tokens.access.clone()),
            _ => Err(self.definitive_error()),
        }
    }

    /// No refresh possible: a still-valid token is used; an expired one expires the session.
    fn without_refresh(&self, state: &SessionState, generation: u64) -> Result<Secret, SessionError> {
        match state {
            SessionState::Active { tokens, .. } if !tokens.is_expired(self.clock.now()) => Ok(tokens.access.clone()),
            SessionState::Active { .. } => {
                // Expired in memory even if the stores refuse it (then pending).
                let _ = self.apply(Event::RefreshFailed { generation, failure: RefreshFailure::NoRefreshToken });
                Err(SessionError::SignInRequired { reason: ExpiryReason::NoRefreshToken })
            }
            _ => Err(self.definitive_error()),
        }
    }
}

/// Awaits `fut` unless the caller's `cancel` fires, or the session's
/// `epoch` is cancelled by a sign-out, first.
async fn with_cancel<T>(
    fut: impl std::future::Future<Output = Result<T, SessionError>>,
    cancel: Option<&CancelToken>,
    epoch: &CancelToken,
) -> Result<T, SessionError> {
    let caller = async {
        match cancel {
            Some(token) => token.cancelled().await,
            None => std::future::pending().await,
        }
    };
    let signed_out = async {
        match epoch.cancelled().await {
            CancelReason::SignedOut => CancelReason::SignedOut,
            _ => std::future::pending().await,
        }
    };
    tokio::select! {
        biased;
        out = fut => out,
        reason = caller => Err(SessionError::Cancelled(reason)),
        reason = signed_out => Err(SessionError::Cancelled(reason)),
    }
}
