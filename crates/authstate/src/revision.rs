//! The connection revision: one monotonic counter over every server's state
//! (DESIGN.md invariant 9), and the subscribers told when it moves.
//!
//! Readers never block on I/O: the revision is a `watch` value. `changed` is
//! the observation primitive every language wraps without callbacks.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use tokio::sync::watch;

use crate::model::{ServerId, StateKind};

/// One change of the connection revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The revision after the change.
    pub revision: u64,
    /// The server whose state changed, or whose addition/removal this is.
    pub server: ServerId,
    /// The server's state after the change (`NoSession` after removal).
    pub state: StateKind,
}

/// Told of every change, after it is persisted. Called on the thread that made
/// the change: keep it short, and do not call back into mutating methods from it.
/// A panic in it is contained and logged; the change stands.
pub trait SessionObserver: Send + Sync {
    /// A change happened.
    fn on_change(&self, change: &Change);
}

impl<F: Fn(&Change) + Send + Sync> SessionObserver for F {
    fn on_change(&self, change: &Change) {
        self(change)
    }
}

type Observers = Arc<Mutex<BTreeMap<u64, Arc<dyn SessionObserver>>>>;

/// The revision counter and its subscribers.
pub(crate) struct RevisionHub {
    tx: watch::Sender<u64>,
    observers: Observers,
    next_id: AtomicU64,
}

impl std::fmt::Debug for RevisionHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevisionHub").field("revision", &*self.tx.borrow()).finish()
    }
}

/// Keeps an observer subscribed; dropping it unsubscribes.
#[must_use = "dropping the subscription unsubscribes at once"]
pub struct Subscription {
    id: u64,
    observers: Observers,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").field("id", &self.id).finish()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.observers.lock().remove(&self.id);
    }
}

impl RevisionHub {
    pub(crate) fn new() -> Self {
        Self { tx: watch::Sender::new(0), observers: Arc::default(), next_id: AtomicU64::new(0) }
    }

    pub(crate) fn current(&self) -> u64 {
        *self.tx.borrow()
    }

    /// Bumps the revision, then notifies. Call after persisting.
    pub(crate) fn bump(&self, server: &ServerId, state: StateKind) -> u64 {
        let mut revision = 0;
        self.tx.send_modify(|r| {
            *r += 1;
            revision = *r;
        });
        let change = Change { revision, server: server.clone(), state };
        let observers: Vec<_> = self.observers.lock().values().cloned().collect();
        for observer in observers {
            // A host observer that panics is the host's bug; it must not
            // unwind through the driver (DESIGN.md invariant 13).
            let told = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| observer.on_change(&change)));
            if told.is_err() {
                tracing::error!(revision, "a session observer panicked; the change stands");
            }
        }
        revision
    }

    pub(crate) fn subscribe(&self, observer: Arc<dyn SessionObserver>) -> Subscription {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.observers.lock().insert(id, observer);
        Subscription { id, observers: Arc::clone(&self.observers) }
    }

    /// How many `changed` waits are pending.
    pub(crate) fn waiters(&self) -> usize {
        self.tx.receiver_count()
    }

    #[cfg(test)]
    pub(crate) fn subscriber_count(&self) -> usize {
        self.observers.lock().len()
    }

    /// Resolves with the revision once it is greater than `after`.
    pub(crate) async fn changed(&self, after: u64) -> u64 {
        let mut rx = self.tx.subscribe();
        match rx.wait_for(|r| *r > after).await {
            Ok(r) => *r,
            // The sender lives as long as the hub; if it is gone, report what we have.
            Err(_) => self.current(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn id() -> ServerId {
        ServerId::parse("https://example.com").unwrap()
    }

    #[tokio::test]
    async fn changed_resolves_once_the_revision_passes() {
        let hub = Arc::new(RevisionHub::new());
        let h2 = Arc::clone(&hub);
        let waiter = tokio::spawn(async move { h2.changed(1).await });
        hub.bump(&id(), StateKind::Active);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        hub.bump(&id(), StateKind::Active);
        assert_eq!(waiter.await.unwrap(), 2);
        assert_eq!(hub.changed(0).await, 2);
    }

    #[test]
    fn dropping_the_subscription_unsubscribes() {
        let hub = RevisionHub::new();
        let seen = Arc::new(AtomicUsize::new(0));
        let s2 = Arc::clone(&seen);
        let sub = hub.subscribe(Arc::new(move |_: &Change| {
            s2.fetch_add(1, Ordering::SeqCst);
        }));
        hub.bump(&id(), StateKind::Active);
        drop(sub);
        hub.bump(&id(), StateKind::NoSession);
        assert_eq!(seen.load(Ordering::SeqCst), 1);
        assert_eq!(hub.subscriber_count(), 0);
    }
}
