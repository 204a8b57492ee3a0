//! Signing out everywhere: locally first (so nothing can undo it), then a
//! best-effort revocation at the server with the tokens the session held.

use std::sync::Arc;

use super::{ServerSession, SessionError};
use crate::machine::Event;
use crate::refresh::{RefreshError, Revocation};

/// What became of the server-side half of a sign-out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevocationOutcome {
    /// The server revoked the tokens.
    Revoked,
    /// The backend has no revocation; the tokens live until they expire.
    NotSupported,
    /// There were no tokens (already signed out).
    NothingToRevoke,
    /// The server could not be reached or refused; the device is signed out
    /// anyway. Report it (the tokens stay valid at the server until they expire).
    Failed(RefreshError),
}

/// The result of [`ServerSession::sign_out`]: the device is always signed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignOutReport {
    /// What the server did with the tokens.
    pub revocation: RevocationOutcome,
}

impl ServerSession {
    /// Signs out: the session becomes `NoSession` with its secrets deleted and
    /// its work cancelled, then the backend revokes the old tokens at the
    /// server, best effort. A refresh in flight is discarded (invariant 5).
    /// `Err(Storage)` means the secrets could not be deleted yet: signed out in
    /// memory, call again later.
    pub async fn sign_out(self: &Arc<Self>) -> Result<SignOutReport, SessionError> {
        let (report, local) = self.sign_out_reporting().await;
        local.map(|()| report)
    }

    /// [`sign_out`](Self::sign_out), telling what the server did even when
    /// the stores refused the local sign-out: the report, and whether the
    /// sign-out was saved (`Err(Storage)`: signed out in memory, [pending
    /// persistence](Self::persistence_pending)). The revocation is attempted
    /// either way.
    pub async fn sign_out_reporting(self: &Arc<Self>) -> (SignOutReport, Result<(), SessionError>) {
        // Revoke what is stored now: another process may have refreshed.
        self.catch_up();
        let held = self.snapshot().state.tokens().cloned();
        let local = match held {
            Some(_) => self.apply(Event::Logout).map(|_| ()),
            None => Ok(()),
        };
        let revocation = match (held, self.refresher.clone()) {
            (None, _) => RevocationOutcome::NothingToRevoke,
            (Some(_), None) => RevocationOutcome::NotSupported,
            (Some(tokens), Some(backend)) => match backend.revoke(&self.info, &tokens).await {
                Ok(Revocation::Revoked) => RevocationOutcome::Revoked,
                Ok(Revocation::NotSupported) => RevocationOutcome::NotSupported,
                Err(error) => {
                    tracing::warn!(server = %self.info.id, error = %error, "revocation at sign-out failed; signed out locally");
                    RevocationOutcome::Failed(error)
                }
            },
        };
        (SignOutReport { revocation }, local)
    }
}
