//! Refreshing tokens: the [`Refresher`] trait backends implement, the failure
//! taxonomy, and the backoff for transient failures.
//!
//! A backend's refresh is reachable only through `ServerSession`, whose
//! single-flight wrapper guarantees one token request per server at a time
//! (DESIGN.md invariant 4). Failures split in two (invariants 2 and 3):
//! [`RefreshError::is_definitive`] failures expire the session with tokens
//! kept; every other failure changes nothing and backs off.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use parking_lot::Mutex;
use rand::Rng;
use time::{Duration, OffsetDateTime};

use crate::machine::ProbeResult;
use crate::model::{ServerInfo, TokenGrant, Tokens};

/// What a session needs from its backend: exchanging a refresh token for new
/// tokens, and revoking tokens at the server on sign-out. Implemented by each
/// backend.
#[async_trait]
pub trait Refresher: Send + Sync {
    /// One token request. Must not retry by itself: the caller owns backoff.
    async fn refresh(&self, server: &ServerInfo, tokens: &Tokens) -> Result<TokenGrant, RefreshError>;

    /// Revokes `tokens` at the server (RFC 7009 or the backend's logout).
    /// Best effort: the session is already signed out locally, whatever this
    /// returns. The default has nothing to revoke.
    async fn revoke(&self, server: &ServerInfo, tokens: &Tokens) -> Result<Revocation, RefreshError> {
        let _ = (server, tokens);
        Ok(Revocation::NotSupported)
    }

    /// Asks the server whether it still accepts `tokens` (a session probe).
    /// Only an answer about the token is `Valid` or `Stale`; a transient
    /// failure is an `Err(Transient)`. The default: this backend has no probe.
    async fn probe(&self, server: &ServerInfo, tokens: &Tokens) -> Result<ProbeResult, RefreshError> {
        let _ = tokens;
        Err(RefreshError::Configuration { detail: format!("{} has no session probe", server.provider.kind().name()) })
    }
}

/// What a server-side revocation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Revocation {
    /// The server accepted the revocation.
    Revoked,
    /// The server offers no revocation; the tokens live until they expire.
    NotSupported,
}

/// Chooses the refresher for each server (one per backend kind, typically).
pub trait RefresherFactory: Send + Sync {
    /// The refresher for `server`, or `None` if its tokens cannot be refreshed.
    fn refresher_for(&self, server: &ServerInfo) -> Option<Arc<dyn Refresher>>;
}

/// A factory for hosts without refreshable backends: no server refreshes.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoRefresh;

impl RefresherFactory for NoRefresh {
    fn refresher_for(&self, _server: &ServerInfo) -> Option<Arc<dyn Refresher>> {
        None
    }
}

/// A transient cause: nothing is wrong with the tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransientKind {
    /// Could not reach the server.
    Network,
    /// The server did not answer in time.
    Timeout,
    /// 5xx.
    ServerError,
    /// 429.
    RateLimited,
    /// The request was cancelled before an answer.
    Cancelled,
    /// An answer that could not be read (truncated, malformed): treated as transient,
    /// since the server may have rotated and we cannot tell.
    MalformedResponse,
    /// The work ended without an answer: it panicked (a bug, reported in the
    /// log) or its runtime shut down. Nothing changed; try again.
    Interrupted,
}

/// Why a refresh failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RefreshError {
    /// Try again later; the session is untouched.
    #[error("refresh failed transiently ({kind:?}); retry later")]
    Transient {
        /// What went wrong.
        kind: TransientKind,
        /// The server's `Retry-After`, if it sent one.
        retry_after: Option<Duration>,
    },
    /// The server rejected the refresh token (`invalid_grant`, `invalid_client`,
    /// blacklisted): sign in again.
    #[error("refresh token rejected: {detail}")]
    Rejected {
        /// The server's error code or a short description (never a token).
        detail: String,
    },
    /// No refresh token is held: sign in again.
    #[error("no refresh token")]
    NoRefreshToken,
    /// The server answered in a way that shows a misconfiguration (e.g. 400 for a
    /// wrong request shape). Treated as definitive so it is not hammered; fix the configuration.
    #[error("refresh endpoint misconfigured: {detail}")]
    Configuration {
        /// What the server said (never a token).
        detail: String,
    },
}

impl RefreshError {
    /// Whether the failure is definitive: the session moves to `Expired` (tokens kept).
    pub fn is_definitive(&self) -> bool {
        !matches!(self, Self::Transient { .. })
    }

    /// A transient failure of `kind` without `Retry-After`.
    pub fn transient(kind: TransientKind) -> Self {
        Self::Transient { kind, retry_after: None }
    }
}

/// Exponential backoff with jitter, capped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// Delay after the first failure.
    pub initial: Duration,
    /// The cap.
    pub max: Duration,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        Self { initial: Duration::seconds(1), max: Duration::minutes(5) }
    }
}

impl BackoffPolicy {
    /// The delay after `failures` consecutive failures (1 = first), before
    /// jitter: `initial * 2^(failures-1)`, capped at `max`.
    pub fn base_delay(&self, failures: u32) -> Duration {
        let factor = 2_i32.saturating_pow(failures.saturating_sub(1).min(30));
        let delay = self.initial.saturating_mul(factor);
        if delay > self.max { self.max } else { delay }
    }

    /// The jittered delay: uniform in `[base/2, base]` ("equal jitter"), so
    /// many devices failing together do not retry in lockstep.
    pub fn delay(&self, failures: u32) -> Duration {
        let base = self.base_delay(failures);
        let millis = base.whole_milliseconds().max(0) as u64;
        let half = millis / 2;
        let jittered = if millis == 0 { 0 } else { rand::thread_rng().gen_range(half..=millis) };
        Duration::milliseconds(jittered as i64)
    }
}

/// Consecutive transient failures and when the next attempt is allowed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Backoff {
    failures: u32,
    next_attempt_at: Option<OffsetDateTime>,
}

impl Backoff {
    /// Records a transient failure at `now`; honours `retry_after` when longer.
    pub(crate) fn record_failure(
        &mut self,
        policy: &BackoffPolicy,
        now: OffsetDateTime,
        retry_after: Option<Duration>,
    ) {
        self.failures = self.failures.saturating_add(1);
        let mut delay = policy.delay(self.failures);
        if let Some(server_says) = retry_after {
            delay = delay.max(server_says.min(Duration::hours(1)));
        }
        self.next_attempt_at = Some(now + delay);
    }

    /// Forgets failures after a success, a sign-in or a logout.
    pub(crate) fn reset(&mut self) {
        *self = Self::default();
    }

    /// How long until the next attempt is allowed, if it is not allowed now.
    pub(crate) fn wait(&self, now: OffsetDateTime) -> Option<Duration> {
        self.next_attempt_at.filter(|at| *at > now).map(|at| at - now)
    }
}

/// One flight at a time: the first caller starts the work detached on the
/// runtime; callers arriving while it runs join it and receive its result.
/// A caller that is dropped (cancelled) does not interrupt the work. A flight
/// that panics, or whose task is dropped (runtime shutdown), ends with the
/// `interrupted` result for every waiter, and its slot is freed either way
/// (DESIGN.md invariant 13).
pub(crate) struct SingleFlight<T: Clone> {
    slot: FlightSlot<T>,
    next_id: AtomicU64,
}

/// The flight in progress, tagged with its id so only it clears the slot.
type FlightSlot<T> = Arc<Mutex<Option<(u64, Shared<BoxFuture<'static, T>>)>>>;

impl<T: Clone> Default for SingleFlight<T> {
    fn default() -> Self {
        Self { slot: Arc::default(), next_id: AtomicU64::new(0) }
    }
}

/// Frees the slot when the flight's task ends, however it ends.
struct ClearSlot<T: Clone> {
    slot: FlightSlot<T>,
    id: u64,
}

impl<T: Clone> Drop for ClearSlot<T> {
    fn drop(&mut self) {
        let mut slot = self.slot.lock();
        if slot.as_ref().is_some_and(|(current, _)| *current == self.id) {
            *slot = None;
        }
    }
}

impl<T: Clone + Send + Sync + 'static> SingleFlight<T> {
    /// Joins the flight in progress; otherwise asks `precheck` whether a flight
    /// is needed (it returns `Some(result)` to answer without one, e.g. because
    /// another flight already refreshed), and if so starts `work`. The slot is
    /// held while deciding, so two callers can never both start.
    pub(crate) fn join_or_start(
        &self,
        precheck: impl FnOnce() -> Option<T>,
        work: impl FnOnce() -> BoxFuture<'static, T>,
        no_runtime: T,
        interrupted: T,
    ) -> BoxFuture<'static, T> {
        let mut slot = self.slot.lock();
        if let Some((_, flight)) = slot.as_ref() {
            return flight.clone().boxed();
        }
        if let Some(answer) = precheck() {
            return futures_util::future::ready(answer).boxed();
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return futures_util::future::ready(no_runtime).boxed();
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let clear = ClearSlot { slot: Arc::clone(&self.slot), id };
        let fut = work();
        let on_panic = interrupted.clone();
        let handle = runtime.spawn(async move {
            let _clear = clear;
            std::panic::AssertUnwindSafe(fut).catch_unwind().await.unwrap_or(on_panic)
        });
        let flight = async move { handle.await.unwrap_or(interrupted) }.boxed().shared();
        *slot = Some((id, flight.clone()));
        flight.boxed()
    }

    /// Whether a flight is in progress.
    pub(crate) fn in_flight(&self) -> bool {
        self.slot.lock().is_some()
    }
}

impl fmt::Display for TransientKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Network => "network",
            Self::Timeout => "timeout",
            Self::ServerError => "server error",
            Self::RateLimited => "rate limited",
            Self::Cancelled => "cancelled",
            Self::MalformedResponse => "malformed response",
            Self::Interrupted => "interrupted",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn backoff_grows_exponentially_and_is_capped() {
        let p = BackoffPolicy::default();
        assert_eq!(p.base_delay(1), Duration::seconds(1));
        assert_eq!(p.base_delay(2), Duration::seconds(2));
        assert_eq!(p.base_delay(5), Duration::seconds(16));
        assert_eq!(p.base_delay(50), Duration::minutes(5));
        for n in 1..12 {
            let d = p.delay(n);
            assert!(d >= p.base_delay(n) / 2 && d <= p.base_delay(n), "{n}: {d}");
        }
    }

    #[test]
    fn retry_after_is_honoured_when_longer() {
        let now = datetime!(2026-01-01 00:00 UTC);
        let mut b = Backoff::default();
        b.record_failure(&BackoffPolicy::default(), now, Some(Duration::seconds(120)));
        assert_eq!(b.wait(now), Some(Duration::seconds(120)));
        assert_eq!(b.wait(now + Duration::seconds(120)), None);
        b.reset();
        assert_eq!(b.wait(now), None);
    }

    #[tokio::test]
    async fn a_panicking_flight_is_interrupted_for_every_waiter_and_frees_its_slot() {
        let flight: SingleFlight<Result<u32, &'static str>> = SingleFlight::default();
        let start = || {
            flight.join_or_start(
                || None,
                || async { panic!("a host callback panicked") }.boxed(),
                Err("no runtime"),
                Err("interrupted"),
            )
        };
        let (a, b) = (start(), start());
        assert_eq!(futures_util::join!(a, b), (Err("interrupted"), Err("interrupted")));
        assert!(!flight.in_flight(), "the slot is free again");
        let next = flight.join_or_start(|| None, || async { Ok(7) }.boxed(), Err("no runtime"), Err("interrupted"));
        assert_eq!(next.await, Ok(7));
    }

    #[test]
    fn only_transient_failures_are_not_definitive() {
        assert!(!RefreshError::transient(TransientKind::Timeout).is_definitive());
        assert!(RefreshError::Rejected { detail: "invalid_grant".into() }.is_definitive());
        assert!(RefreshError::NoRefreshToken.is_definitive());
    }
}
