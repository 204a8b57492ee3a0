//! The per-server session state: a sealed enum with three cases.

use serde::{Deserialize, Serialize};

use super::{ProviderKind, Tokens};

/// Why a session is `Expired`. Tokens are kept in every case, so a silent
/// refresh can revive the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ExpiryReason {
    /// The refresh endpoint rejected the refresh token (`invalid_grant`, blacklisted, revoked).
    RefreshRejected,
    /// A refresh was needed but there is no refresh token.
    NoRefreshToken,
    /// A resource answered 401 to the current token and it could not be refreshed.
    Unauthorized,
    /// A session probe said the token is no longer valid.
    StaleToken,
    /// The host marked the session expired.
    Marked,
    /// The refresh endpoint answered in a way that shows a misconfiguration
    /// (wrong request shape or path): fix the server entry; signing in again
    /// works until the next refresh.
    Misconfigured,
    /// A refresh was interrupted (the process was killed, or its answer was
    /// lost) after the refresh token was presented, and the server has since
    /// refused that token: it rotated, and the answer holding the new tokens
    /// never arrived. Sign in again.
    RefreshInterrupted,
}

/// A server's session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionState {
    /// Signed out, or never signed in.
    NoSession,
    /// Usable.
    Active {
        /// The backend that issued the tokens.
        provider: ProviderKind,
        /// The tokens.
        tokens: Tokens,
    },
    /// Authentication failed; tokens are kept so a refresh can revive the
    /// session and the UI can offer "sign in again" for this server only.
    Expired {
        /// The backend that issued the tokens.
        provider: ProviderKind,
        /// The last tokens, kept.
        tokens: Tokens,
        /// Why the session expired.
        reason: ExpiryReason,
    },
}

/// The case of a [`SessionState`], without its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateKind {
    /// See [`SessionState::NoSession`].
    NoSession,
    /// See [`SessionState::Active`].
    Active,
    /// See [`SessionState::Expired`].
    Expired,
}

impl SessionState {
    /// True exactly in `Active` (DESIGN.md invariant 1).
    pub fn is_authenticated(&self) -> bool {
        matches!(self, Self::Active { .. })
    }

    /// The case, without data.
    pub fn kind(&self) -> StateKind {
        match self {
            Self::NoSession => StateKind::NoSession,
            Self::Active { .. } => StateKind::Active,
            Self::Expired { .. } => StateKind::Expired,
        }
    }

    /// The tokens held in `Active` and `Expired`.
    pub fn tokens(&self) -> Option<&Tokens> {
        match self {
            Self::NoSession => None,
            Self::Active { tokens, .. } | Self::Expired { tokens, .. } => Some(tokens),
        }
    }

    /// The expiry reason, in `Expired`.
    pub fn expiry_reason(&self) -> Option<ExpiryReason> {
        match self {
            Self::Expired { reason, .. } => Some(*reason),
            _ => None,
        }
    }
}
