//! Observation semantics, once for every language (DESIGN.md "Across the
//! FFI"): what counts as a change of a server's state, what is emitted first,
//! what other servers' changes and a removal do, and how a wait is released.
//! Each language's stream (Swift `AsyncStream`, Kotlin `Flow`, Dart
//! `Stream`, Python async iterators) is a loop over [`StateWatch::next`] or
//! [`RevisionWatch::next`] with no rules of its own.
//!
//! Guarantees:
//! - a change is a change of case, expiry reason or provider ([`StateView`]);
//!   the remaining life of a token is not one, so a refresh is silent;
//! - the first call returns the current state (or revision) at once;
//! - other servers' changes return nothing;
//! - after the server is removed, one last `NoSession` (unless that was the
//!   last state returned), then the watch ends (`None`);
//! - an unknown alias is `UnknownServer` when the watch is created;
//! - cancelling (the [`CancelToken`] from `canceller`, or dropping the
//!   future) releases the wait at once: no waiter is left behind
//!   ([`ServerManager::pending_waits`]).

use std::sync::Arc;

use crate::cancel::CancelToken;
use crate::manager::{ManagerError, ServerManager};
use crate::model::{ExpiryReason, ProviderKind, SessionState, StateKind};
use crate::session::ServerSession;

/// What observers see of a session: its case, why it expired, and which
/// backend. Never a token, never the token's remaining life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StateView {
    /// Signed out, or never signed in.
    NoSession,
    /// Usable.
    Active {
        /// The backend that issued the tokens.
        provider: ProviderKind,
    },
    /// Authentication failed; offer "sign in again" for this server.
    Expired {
        /// The backend that issued the tokens.
        provider: ProviderKind,
        /// Why it expired.
        reason: ExpiryReason,
    },
}

impl StateView {
    /// The view of `state`.
    pub fn of(state: &SessionState) -> Self {
        match state {
            SessionState::NoSession => Self::NoSession,
            SessionState::Active { provider, .. } => Self::Active { provider: *provider },
            SessionState::Expired { provider, reason, .. } => Self::Expired { provider: *provider, reason: *reason },
        }
    }

    /// The case, without data.
    pub fn kind(&self) -> StateKind {
        match self {
            Self::NoSession => StateKind::NoSession,
            Self::Active { .. } => StateKind::Active,
            Self::Expired { .. } => StateKind::Expired,
        }
    }
}

/// One emission of a watch: the state (or nothing, for revisions) and the
/// connection revision it was read at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    /// The connection revision, read before the state: no change is missed.
    pub revision: u64,
    /// The server's state.
    pub state: StateView,
}

/// Watches one server's state. Create it with [`ServerManager::watch_state`].
#[derive(Debug)]
pub struct StateWatch {
    manager: ServerManager,
    session: Arc<ServerSession>,
    last: Option<StateView>,
    cancel: CancelToken,
    ended: bool,
}

impl StateWatch {
    /// The next state that differs from the last one returned (see the
    /// module docs); `None` once the server was removed or the watch cancelled.
    pub async fn next(&mut self) -> Option<Observation> {
        while !self.ended && !self.cancel.is_cancelled() {
            let revision = self.manager.connection_revision();
            let removed = self.session.is_removed();
            let state = if removed { StateView::NoSession } else { self.session.inspect(StateView::of) };
            if self.last != Some(state) {
                self.last = Some(state);
                return Some(Observation { revision, state });
            }
            if removed {
                break;
            }
            tokio::select! {
                _ = self.manager.changed(revision) => {}
                _ = self.cancel.cancelled() => break,
            }
        }
        self.ended = true;
        None
    }

    /// A token that, when cancelled, ends the watch and releases a pending
    /// [`next`](Self::next) at once (for hosts whose futures cannot be dropped).
    pub fn canceller(&self) -> CancelToken {
        self.cancel.clone()
    }
}

/// Watches the connection revision. Create it with [`ServerManager::watch_revisions`].
#[derive(Debug)]
pub struct RevisionWatch {
    manager: ServerManager,
    seen: Option<u64>,
    cancel: CancelToken,
}

impl RevisionWatch {
    /// The current revision on the first call; then the next revision once it
    /// passes the last one returned (a burst of changes comes as its latest
    /// revision). `None` once cancelled.
    pub async fn next(&mut self) -> Option<u64> {
        if self.cancel.is_cancelled() {
            return None;
        }
        let revision = match self.seen {
            None => self.manager.connection_revision(),
            Some(seen) => tokio::select! {
                revision = self.manager.changed(seen) => revision,
                _ = self.cancel.cancelled() => return None,
            },
        };
        self.seen = Some(revision);
        Some(revision)
    }

    /// A token that, when cancelled, ends the watch and releases a pending
    /// [`next`](Self::next) at once.
    pub fn canceller(&self) -> CancelToken {
        self.cancel.clone()
    }
}

impl ServerManager {
    /// Watches the state of server `alias`: `UnknownServer` at once for an
    /// unknown alias. See [`StateWatch`].
    pub fn watch_state(&self, alias: &str) -> Result<StateWatch, ManagerError> {
        let session = self.session(alias).ok_or_else(|| ManagerError::UnknownServer(alias.to_owned()))?;
        Ok(StateWatch { manager: self.clone(), session, last: None, cancel: CancelToken::new(), ended: false })
    }

    /// Watches the connection revision. See [`RevisionWatch`].
    pub fn watch_revisions(&self) -> RevisionWatch {
        RevisionWatch { manager: self.clone(), seen: None, cancel: CancelToken::new() }
    }
}

#[cfg(test)]
#[path = "observe_tests.rs"]
mod tests;
