//! Why a sign-in, a sign-out or an account call failed, for every backend,
//! by what the caller should do.

use crate::http::TransportError;
use crate::preauth::PreAuthError;
use crate::session::SessionError;

/// Why a login could not start or complete, by what the caller should do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoginError {
    /// No server with that alias (or it was removed during the login).
    #[error("unknown server {0:?}")]
    UnknownServer(String),
    /// The server does not sign in through this flow (wrong backend kind).
    #[error("server {0:?} does not use this sign-in method")]
    WrongProvider(String),
    /// The return path is not a safe relative path; nothing was started.
    #[error("return path refused: {0}")]
    InvalidReturnTo(String),
    /// The user ended the login: the provider answered `error=access_denied`
    /// (the user declined or closed the consent), or the host abandoned it
    /// ([`abandon_login`](crate::Authenticator::abandon_login)). Not a
    /// failure: show nothing alarming, leave the sign-in button. The pending
    /// login is gone.
    #[error("sign-in cancelled: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Cancelled {
        /// The OAuth error code (`access_denied`).
        error: String,
        /// The provider's description, if any.
        description: Option<String>,
    },
    /// The provider ended the login with another error (`invalid_scope`,
    /// `server_error`, `login_required`, …). Show the message and let the
    /// user start again.
    #[error("sign-in ended by the provider: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Denied {
        /// The OAuth error code.
        error: String,
        /// The provider's description, if any.
        description: Option<String>,
    },
    /// The callback does not belong to a login started here (a tampered or
    /// replayed `state`), or was already used. Start the sign-in again.
    #[error("sign-in callback does not match a pending sign-in; start again")]
    StateMismatch,
    /// The login took longer than 30 minutes. Start it again.
    #[error("sign-in took too long ({age_secs} s); start again")]
    Expired {
        /// How old the pending login was.
        age_secs: i64,
    },
    /// The callback URL is malformed (no code, another redirect target, an
    /// issuer mix-up). Start the sign-in again.
    #[error("invalid sign-in callback: {0}")]
    InvalidCallback(String),
    /// The provider refused the code (replayed, expired, wrong verifier).
    /// Start the sign-in again.
    #[error("the provider refused the sign-in code: {0}")]
    CodeRejected(String),
    /// The ID token failed validation (signature, issuer, audience, nonce,
    /// expiry). Nothing was stored; start again, and report it if it repeats.
    #[error("ID token rejected: {0}")]
    InvalidIdToken(String),
    /// The server rejected the username or password (or the account is
    /// disabled). Nothing changed; ask the user again. Holds the server's
    /// message, never the password.
    #[error("sign-in refused: {0}")]
    InvalidCredentials(String),
    /// The server (identity provider or token server) could not be reached;
    /// nothing changed. Try again later
    /// (the pending login was consumed only if the code exchange had started).
    #[error("server unreachable: {0}")]
    Unreachable(TransportError),
    /// The server's configuration or answers are unusable (bad discovery,
    /// issuer mismatch, a token response without a token, an endpoint that
    /// answers 404 or 422): fix the server entry or the server.
    #[error("identity provider misconfigured: {0}")]
    Configuration(String),
    /// The pending-login or token storage failed. Try again later.
    #[error("sign-in storage failed: {0}")]
    Storage(String),
    /// The session refused the result (a caller bug or a removed server).
    #[error(transparent)]
    Session(#[from] SessionError),
}

impl From<PreAuthError> for LoginError {
    fn from(error: PreAuthError) -> Self {
        match error {
            PreAuthError::Unknown => Self::StateMismatch,
            PreAuthError::Expired { age_secs } => Self::Expired { age_secs },
            other => Self::Storage(other.to_string()),
        }
    }
}

/// Why an account call (device sessions, sign-out everywhere, password
/// change) failed, by what the caller should do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccountError {
    /// No server with that alias.
    #[error("unknown server {0:?}")]
    UnknownServer(String),
    /// The server's backend has no such call, or its path is not configured.
    /// Hide the feature for this server.
    #[error("not supported by server {0:?}")]
    NotSupported(String),
    /// Signed out, or the session expired (the server refused the token):
    /// offer "sign in again" for this server.
    #[error("sign in to this server first")]
    SignInRequired,
    /// No such device session: already revoked, or another account's.
    /// Refresh the list.
    #[error("no such device session")]
    NotFound,
    /// The server denied this call to this user (403). Show it inline.
    #[error("permission denied")]
    PermissionDenied,
    /// The server refused the change (a wrong current password, a new
    /// password it does not accept). Show its message and ask again.
    #[error("refused by the server: {0}")]
    Refused(String),
    /// The server could not be reached, timed out, or answered 5xx/429.
    /// Nothing changed; try again later (after `retry_after_secs` if given).
    #[error("server unavailable: {detail}")]
    TryLater {
        /// What failed (no secrets).
        detail: String,
        /// How long to wait, when the server said.
        retry_after_secs: Option<i64>,
    },
    /// The caller cancelled, or the session left `Active` meanwhile.
    #[error("cancelled")]
    Cancelled,
    /// The server answered in a way that shows a misconfiguration (wrong
    /// path, unreadable answer). Fix the server entry or the server.
    #[error("server misconfigured: {0}")]
    Configuration(String),
    /// The new state could not be saved. Try again later.
    #[error("storage failed: {0}")]
    Storage(String),
}

impl From<crate::http::HttpFailure> for AccountError {
    fn from(failure: crate::http::HttpFailure) -> Self {
        use crate::http::FailureReason as R;
        match failure.reason {
            R::AuthExpired => Self::SignInRequired,
            R::PermissionDenied => Self::PermissionDenied,
            R::NotFound => Self::NotFound,
            R::Cancelled => Self::Cancelled,
            R::Internal => Self::Configuration(failure.detail),
            R::Network | R::Timeout | R::RateLimited | R::ServerError => Self::TryLater {
                detail: failure.detail,
                retry_after_secs: failure.retry_after.map(|d| d.whole_seconds()),
            },
        }
    }
}

impl From<TransportError> for AccountError {
    fn from(error: TransportError) -> Self {
        match error {
            TransportError::Request { detail } => Self::Configuration(detail),
            other => Self::TryLater {
                retry_after_secs: other.retry_after().map(|d| d.whole_seconds()),
                detail: other.to_string(),
            },
        }
    }
}

impl From<SessionError> for AccountError {
    fn from(error: SessionError) -> Self {
        match error {
            SessionError::SignedOut | SessionError::SignInRequired { .. } => Self::SignInRequired,
            SessionError::TryLater { retry_after, .. } => {
                Self::TryLater { detail: error.to_string(), retry_after_secs: retry_after.map(|d| d.whole_seconds()) }
            }
            SessionError::Cancelled(_) => Self::Cancelled,
            SessionError::Storage(e) => Self::Storage(e.to_string()),
            SessionError::ServerRemoved => Self::UnknownServer("removed".into()),
            other => Self::Configuration(other.to_string()),
        }
    }
}
