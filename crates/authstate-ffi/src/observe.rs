//! Observation across the FFI: the core's watches, whose rules (what counts
//! as a change, what comes first, what a removal does) every language's
//! stream inherits by looping over `next()` — Swift's `AsyncStream`,
//! Kotlin's `Flow`, Dart's `Stream`, Python's async iterators.
//!
//! Guarantees: `next()` returns the current state (or revision) first, then
//! each change; `null`/`None` ends the stream (the server was removed, after
//! one last `NoSession`, or the watch was cancelled); `cancel()` releases a
//! pending `next()` at once in every language, including those whose
//! generated code ignores cancelling the call itself (Swift, Dart).

use std::sync::Arc;

use authstate::CancelReason;

use crate::error::AuthError;
use crate::manager::ServerManager;
use crate::records::StateObservation;

/// Watches one server's state. Get one from `ServerManager.watch_state`.
#[derive(uniffi::Object)]
pub struct StateWatch {
    core: tokio::sync::Mutex<authstate::StateWatch>,
    cancel: authstate::CancelToken,
}

#[uniffi::export]
impl StateWatch {
    /// The current state on the first call, then the next state that
    /// differs in case, expiry reason or provider (a refresh is silent; other
    /// servers' changes are silent). `None` once the server was removed
    /// (after one last `NoSession`) or the watch cancelled. Calls are served
    /// one at a time.
    pub async fn next(&self) -> Option<StateObservation> {
        let mut core = self.core.lock().await;
        core.next().await.map(|o| StateObservation { revision: o.revision, state: o.state.into() })
    }

    /// Ends the watch: a pending or later `next()` returns `None` at once.
    pub fn cancel(&self) {
        self.cancel.cancel(CancelReason::Caller);
    }
}

/// Watches the connection revision. Get one from `ServerManager.watch_revisions`.
#[derive(uniffi::Object)]
pub struct RevisionWatch {
    core: tokio::sync::Mutex<authstate::RevisionWatch>,
    cancel: authstate::CancelToken,
}

#[uniffi::export]
impl RevisionWatch {
    /// The current revision on the first call, then the latest revision once
    /// it moves past the last one returned. `None` once cancelled.
    pub async fn next(&self) -> Option<u64> {
        let mut core = self.core.lock().await;
        core.next().await
    }

    /// Ends the watch: a pending or later `next()` returns `None` at once.
    pub fn cancel(&self) {
        self.cancel.cancel(CancelReason::Caller);
    }
}

#[uniffi::export]
impl ServerManager {
    /// Watches server `alias`'s state. `UnknownServer` at once for an
    /// unknown alias.
    pub fn watch_state(&self, alias: String) -> Result<Arc<StateWatch>, AuthError> {
        let core = self.core.watch_state(&alias).map_err(AuthError::from)?;
        let cancel = core.canceller();
        Ok(Arc::new(StateWatch { core: tokio::sync::Mutex::new(core), cancel }))
    }

    /// Watches the connection revision.
    pub fn watch_revisions(&self) -> Arc<RevisionWatch> {
        let core = self.core.watch_revisions();
        let cancel = core.canceller();
        Arc::new(RevisionWatch { core: tokio::sync::Mutex::new(core), cancel })
    }

    /// How many observation waits are pending in the core: 0 once every
    /// watch was cancelled or finished (a diagnostic for stream leaks).
    pub fn pending_waits(&self) -> u64 {
        self.core.pending_waits() as u64
    }
}
