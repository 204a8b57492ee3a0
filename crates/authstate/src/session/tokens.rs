//! Handing out access tokens: the fast path, proactive refresh, recovery from
//! a 401, and the single-flight refresh behind them (DESIGN.md invariants 4–8).

use std::sync::Arc;

use futures_util::FutureExt;

use super::{FlightResult, ServerSession, SessionError};
use crate::cancel::{CancelReason, CancelToken};
use crate::machine::{Event, RefreshFailure, Verdict};
use crate::model::{ExpiryReason, Secret, SessionState};
use crate::refresh::RefreshError;

impl ServerSession {
    /// The access token if the session is `Active` and the token is not within
    /// the refresh threshold. Never blocks and never does I/O.
    pub fn valid_access_token(&self) -> Option<Secret> {
        let fast = self.fast.read();
        match &fast.access {
            Some(access) if self.clock.unix_nanos() < fast.use_until_unix_nanos => Some(access.clone()),
            _ => None,
        }
    }

    /// A usable access token, refreshing first when it expires within the
    /// threshold (or the session is `Expired` and may be revived). Concurrent
    /// callers share one refresh. A transient failure while the old token is
    /// still valid returns the old token.
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
            match with_cancel(self.refresh_from(snap.generation), cancel).await {
                Ok(()) => match &self.snapshot().state {
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
    pub async fn refresh(self: &Arc<Self>) -> Result<(), SessionError> {
        let generation = self.generation();
        self.refresh_from(generation).await
    }

    /// A resource answered 401 to a request that carried `token_used`. Returns
    /// the token to retry with: the current one if it is newer than the one
    /// used (no refresh), else a refreshed one. Fails with `SignInRequired`
    /// when the refresh fails definitively (the session is then `Expired`).
    pub async fn recover_from_401(self: &Arc<Self>, token_used: &str) -> Result<Secret, SessionError> {
        let generation = self.generation();
        match self.apply(Event::Unauthorized { token_used: token_used.to_owned() })? {
            Verdict::RetryWithCurrentToken => self.valid_or_current(),
            Verdict::RefreshAndRetry => {
                self.refresh_from(generation).await?;
                self.valid_or_current()
            }
            _ => Err(self.definitive_error()),
        }
    }

    /// Call when the app returns to the foreground: refreshes a token that
    /// expires within the threshold. Transient failures are logged, not returned.
    pub async fn on_resume(self: &Arc<Self>) -> Result<(), SessionError> {
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
            SessionState::Active { tokens, .. } => Ok(tokens.access.clone()),
            _ => Err(self.definitive_error()),
        }
    }

    /// No refresh possible: a still-valid token is used; an expired one expires the session.
    fn without_refresh(&self, state: &SessionState, generation: u64) -> Result<Secret, SessionError> {
        match state {
            SessionState::Active { tokens, .. } if !tokens.is_expired(self.clock.now()) => Ok(tokens.access.clone()),
            SessionState::Active { .. } => {
                self.apply(Event::RefreshFailed { generation, failure: RefreshFailure::NoRefreshToken })?;
                Err(SessionError::SignInRequired { reason: ExpiryReason::NoRefreshToken })
            }
            _ => Err(self.definitive_error()),
        }
    }

    /// Joins the refresh in flight, or starts one for `generation` unless the
    /// tokens already moved on, the backoff says wait, or the server already
    /// rejected this generation's refresh token.
    fn refresh_from(self: &Arc<Self>, generation: u64) -> futures_util::future::BoxFuture<'static, FlightResult> {
        let me = Arc::clone(self);
        let precheck = || {
            let snap = self.snapshot();
            if snap.generation != generation {
                return Some(Ok(()));
            }
            if matches!(snap.state, SessionState::NoSession) {
                return Some(Err(SessionError::SignedOut));
            }
            let memo = self.memo.lock();
            if memo.rejected_generation == Some(generation) {
                return Some(Err(self.definitive_error()));
            }
            if let Some(wait) = memo.backoff.wait(self.clock.now()) {
                return Some(Err(SessionError::TryLater {
                    kind: memo.last_transient.unwrap_or(crate::refresh::TransientKind::Network),
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
        )
    }

    /// The detached exchange: one token request, then its result applied.
    async fn run_refresh(self: Arc<Self>, generation: u64) -> FlightResult {
        let snap = self.snapshot();
        let (Some(refresher), Some(tokens)) = (self.refresher.clone(), snap.state.tokens().cloned()) else {
            return Err(self.definitive_error());
        };
        if snap.generation != generation {
            return Ok(());
        }
        let result = if tokens.refresh.is_none() {
            Err(RefreshError::NoRefreshToken)
        } else {
            tracing::debug!(server = %self.info.id, generation, "refreshing tokens");
            refresher.refresh(&self.info, &tokens).await
        };
        self.finish_refresh(generation, result)
    }

    /// Applies a refresh result: success rotates, transient backs off, definitive expires.
    fn finish_refresh(&self, generation: u64, result: Result<crate::model::TokenGrant, RefreshError>) -> FlightResult {
        let now = self.clock.now();
        match result {
            Ok(grant) => {
                self.memo.lock().backoff.reset();
                match self.apply(Event::Refreshed { generation, grant, at: now }) {
                    Ok(Verdict::Discarded) => {
                        tracing::info!(server = %self.info.id, generation, "refresh result discarded: the session moved on");
                        Ok(())
                    }
                    Ok(_) => Ok(()),
                    // Applied in memory; the error was logged and saving is retried with the next change.
                    Err(SessionError::Storage(_)) => Ok(()),
                    Err(e) => Err(e),
                }
            }
            Err(error @ RefreshError::Transient { .. }) => {
                let mut memo = self.memo.lock();
                let retry_after =
                    if let RefreshError::Transient { retry_after, .. } = &error { *retry_after } else { None };
                memo.backoff.record_failure(&self.config.backoff, now, retry_after);
                if let RefreshError::Transient { kind, .. } = &error {
                    memo.last_transient = Some(*kind);
                }
                let wait = memo.backoff.wait(now);
                drop(memo);
                tracing::warn!(server = %self.info.id, error = %error, retry_in_ms = wait.map(|w| w.whole_milliseconds() as i64), "refresh failed transiently; session kept");
                // The machine decides what a transient failure means (nothing, by invariant 2).
                let _ = self.apply(Event::RefreshFailed { generation, failure: RefreshFailure::Transient });
                match error {
                    RefreshError::Transient { kind, .. } => Err(SessionError::TryLater { kind, retry_after: wait }),
                    other => Err(self.refresh_error(&other)),
                }
            }
            Err(error) => {
                self.memo.lock().rejected_generation = Some(generation);
                let failure = match error {
                    RefreshError::NoRefreshToken => RefreshFailure::NoRefreshToken,
                    RefreshError::Configuration { .. } => RefreshFailure::Misconfigured,
                    _ => RefreshFailure::Rejected,
                };
                if failure == RefreshFailure::Misconfigured {
                    tracing::error!(server = %self.info.id, error = %error, "refresh endpoint misconfigured; session expired, tokens kept");
                } else {
                    tracing::warn!(server = %self.info.id, error = %error, "refresh rejected; session expired, tokens kept");
                }
                let _ = self.apply(Event::RefreshFailed { generation, failure });
                Err(self.refresh_error(&error))
            }
        }
    }
}

async fn with_cancel<T>(
    fut: impl std::future::Future<Output = Result<T, SessionError>>,
    cancel: Option<&CancelToken>,
) -> Result<T, SessionError> {
    match cancel {
        None => fut.await,
        Some(token) => {
            tokio::select! {
                out = fut => out,
                reason = token.cancelled() => Err(SessionError::Cancelled(reason)),
            }
        }
    }
}

#[allow(dead_code)]
const _: CancelReason = CancelReason::Caller;
