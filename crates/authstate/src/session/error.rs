//! Why a session call failed, by what the caller should do.

use time::Duration;

use crate::cancel::CancelReason;
use crate::machine::InvalidTransition;
use crate::model::ExpiryReason;
use crate::refresh::TransientKind;
use crate::storage::StorageError;

/// What went wrong with a session call, by what the caller should do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// There is no session: sign in.
    #[error("not signed in")]
    SignedOut,
    /// The session expired: sign in again (tokens are kept until then).
    #[error("session expired ({reason:?}): sign in again")]
    SignInRequired {
        /// Why it expired.
        reason: ExpiryReason,
    },
    /// A transient failure: nothing changed; try again after `retry_after` if given.
    #[error("temporarily unavailable ({kind}); try again later")]
    TryLater {
        /// What failed.
        kind: TransientKind,
        /// How long to wait, when known.
        retry_after: Option<Duration>,
    },
    /// The caller's work was cancelled.
    #[error("cancelled: {0}")]
    Cancelled(CancelReason),
    /// The change was applied in memory but could not be saved; it is in
    /// use, [pending persistence](super::ServerSession::persistence_pending), and
    /// saved again at every later call and at `on_resume` until it lands.
    /// Retry an explicit action (logout) later if it matters now.
    #[error("session storage failed: {0}")]
    Storage(#[from] StorageError),
    /// The refresh endpoint answered in a way that shows a misconfiguration.
    #[error("refresh endpoint misconfigured: {0}")]
    Configuration(String),
    /// The event is not valid in the current state (a caller bug).
    #[error(transparent)]
    InvalidTransition(#[from] InvalidTransition),
    /// The server was removed from the manager.
    #[error("server was removed")]
    ServerRemoved,
    /// An internal failure (no async runtime, a task that died). Report it.
    #[error("internal error: {0}")]
    Internal(String),
}
