//! Cancellation of in-flight work, per server (DESIGN.md invariant 11).
//!
//! Work that depends on a session (a resource request, an upload) registers a
//! [`CancelToken`] with that server's [`CancelRegistry`]. When the session
//! leaves `Active`, the driver cancels everything registered, with a reason the
//! host can show ("auth expired", "signed out").

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

/// Why work was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CancelReason {
    /// The session expired; the user must sign in again (or a refresh revives it).
    AuthExpired,
    /// The user signed out.
    SignedOut,
    /// The caller itself cancelled.
    Caller,
}

impl fmt::Display for CancelReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::AuthExpired => "auth expired",
            Self::SignedOut => "signed out",
            Self::Caller => "cancelled by caller",
        })
    }
}

/// A cancellation signal with a reason. Clones observe the same signal; the
/// first reason given wins.
#[derive(Clone, Default)]
pub struct CancelToken {
    inner: CancellationToken,
    reason: Arc<Mutex<Option<CancelReason>>>,
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelToken").field("reason", &self.reason()).finish()
    }
}

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels with `reason`. Idempotent: a later reason does not replace the first.
    pub fn cancel(&self, reason: CancelReason) {
        {
            let mut slot = self.reason.lock();
            if slot.is_none() {
                *slot = Some(reason);
            }
        }
        self.inner.cancel();
    }

    /// Whether the token has been cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.inner.is_cancelled()
    }

    /// The reason, once cancelled.
    pub fn reason(&self) -> Option<CancelReason> {
        *self.reason.lock()
    }

    /// Resolves with the reason once the token is cancelled.
    pub async fn cancelled(&self) -> CancelReason {
        self.inner.cancelled().await;
        self.reason().unwrap_or(CancelReason::Caller)
    }
}

/// The in-flight work of one server. Registration returns a guard that
/// unregisters on drop, so finished work does not accumulate.
#[derive(Debug, Default)]
pub struct CancelRegistry {
    next: AtomicU64,
    tokens: Arc<Mutex<HashMap<u64, CancelToken>>>,
}

/// Keeps a token registered while alive.
#[derive(Debug)]
pub struct Registration {
    id: u64,
    tokens: Arc<Mutex<HashMap<u64, CancelToken>>>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.tokens.lock().remove(&self.id);
    }
}

impl CancelRegistry {
    /// Registers `token`; it is cancelled if the session leaves `Active` while
    /// the returned guard is alive.
    pub fn register(&self, token: CancelToken) -> Registration {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.tokens.lock().insert(id, token);
        Registration { id, tokens: Arc::clone(&self.tokens) }
    }

    /// Cancels and forgets everything registered. Returns how many were cancelled.
    pub fn cancel_all(&self, reason: CancelReason) -> usize {
        let drained: Vec<CancelToken> = self.tokens.lock().drain().map(|(_, t)| t).collect();
        for token in &drained {
            token.cancel(reason);
        }
        drained.len()
    }

    /// How many tokens are registered now.
    pub fn len(&self) -> usize {
        self.tokens.lock().len()
    }

    /// Whether nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_reason_wins() {
        let t = CancelToken::new();
        t.cancel(CancelReason::AuthExpired);
        t.cancel(CancelReason::SignedOut);
        assert_eq!(t.reason(), Some(CancelReason::AuthExpired));
        assert_eq!(CancelReason::AuthExpired.to_string(), "auth expired");
    }

    #[test]
    fn registry_cancels_live_registrations_only() {
        let reg = CancelRegistry::default();
        let live = CancelToken::new();
        let done = CancelToken::new();
        let _keep = reg.register(live.clone());
        drop(reg.register(done.clone()));
        assert_eq!(reg.len(), 1);
        assert_eq!(reg.cancel_all(CancelReason::SignedOut), 1);
        assert_eq!(live.reason(), Some(CancelReason::SignedOut));
        assert!(!done.is_cancelled());
        assert!(reg.is_empty());
    }

    #[tokio::test]
    async fn cancelled_future_resolves_with_reason() {
        let t = CancelToken::new();
        let t2 = t.clone();
        let waiter = tokio::spawn(async move { t2.cancelled().await });
        t.cancel(CancelReason::AuthExpired);
        assert_eq!(waiter.await.ok(), Some(CancelReason::AuthExpired));
    }
}
