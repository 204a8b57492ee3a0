//! The one FFI error enum, named by what the caller should do, and the single
//! place every core error is mapped into it.

use authstate::drafts::DraftError;
use authstate::manager::ManagerError;
use authstate::model::ServerInputError;
use authstate::preauth::ReturnToError;
use authstate::{AccountError, LoginError, SessionError};

/// What went wrong, by what the app should do about it. Never holds a secret.
/// Each variant carries a `detail` field (not a flat error: the Dart
/// generator cannot decode flat errors' messages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum AuthError {
    /// The input is invalid (a URL, an alias, a return path): fix it.
    #[error("invalid input: {detail}")]
    InvalidInput {
        /// What happened (never a secret).
        detail: String,
    },
    /// The alias or server already exists: choose another.
    #[error("already exists: {detail}")]
    AlreadyExists {
        /// What happened (never a secret).
        detail: String,
    },
    /// No such server.
    #[error("unknown server: {detail}")]
    UnknownServer {
        /// What happened (never a secret).
        detail: String,
    },
    /// Sign in (again) to this server.
    #[error("sign-in required: {detail}")]
    SignInRequired {
        /// What happened (never a secret).
        detail: String,
    },
    /// This sign-in attempt failed (refused, stale, replayed, tampered or
    /// declined); the session is unchanged. Start sign-in again.
    #[error("sign-in failed: {detail}")]
    SignInFailed {
        /// What happened (never a secret).
        detail: String,
    },
    /// 403: this user may not do this. Show it inline; the session is untouched.
    #[error("permission denied: {detail}")]
    PermissionDenied {
        /// What happened (never a secret).
        detail: String,
    },
    /// The thing named does not exist (any more): a device session already
    /// revoked, or another account's. Refresh the list.
    #[error("not found: {detail}")]
    NotFound {
        /// What happened (never a secret).
        detail: String,
    },
    /// A transient failure; nothing changed. Retry later.
    #[error("try later: {detail}")]
    TryLater {
        /// What happened (never a secret).
        detail: String,
    },
    /// Storage is locked or failed; nothing was lost. Retry later.
    #[error("storage unavailable: {detail}")]
    Storage {
        /// What happened (never a secret).
        detail: String,
    },
    /// The server or the app is misconfigured (discovery, endpoints, client
    /// registration); retrying will not help. Fix the configuration.
    #[error("misconfigured: {detail}")]
    Configuration {
        /// What happened (never a secret).
        detail: String,
    },
    /// The work was cancelled: by the caller, or by the user (a sign-in the
    /// user declined or closed, or one the host abandoned). Not a failure:
    /// show nothing alarming.
    #[error("cancelled: {detail}")]
    Cancelled {
        /// What happened (never a secret).
        detail: String,
    },
    /// A bug: report it.
    #[error("internal error: {detail}")]
    Internal {
        /// What happened (never a secret).
        detail: String,
    },
}

impl From<ManagerError> for AuthError {
    fn from(error: ManagerError) -> Self {
        let detail = error.to_string();
        match error {
            ManagerError::InvalidInput(_) => Self::InvalidInput { detail },
            ManagerError::DuplicateAlias(_) | ManagerError::DuplicateServer(..) => Self::AlreadyExists { detail },
            ManagerError::UnknownServer(_) => Self::UnknownServer { detail },
            ManagerError::Storage(_) => Self::Storage { detail },
            _ => Self::Internal { detail },
        }
    }
}

impl From<SessionError> for AuthError {
    fn from(error: SessionError) -> Self {
        let detail = error.to_string();
        match error {
            SessionError::SignedOut | SessionError::SignInRequired { .. } => Self::SignInRequired { detail },
            SessionError::TryLater { .. } => Self::TryLater { detail },
            SessionError::Cancelled(_) => Self::Cancelled { detail },
            SessionError::Storage(_) => Self::Storage { detail },
            SessionError::ServerRemoved => Self::UnknownServer { detail },
            SessionError::Configuration(_) => Self::Configuration { detail },
            _ => Self::Internal { detail },
        }
    }
}

impl From<ReturnToError> for AuthError {
    fn from(error: ReturnToError) -> Self {
        Self::InvalidInput { detail: error.to_string() }
    }
}

impl From<authstate::storage::StorageError> for AuthError {
    fn from(error: authstate::storage::StorageError) -> Self {
        Self::Storage { detail: error.to_string() }
    }
}

impl From<LoginError> for AuthError {
    fn from(error: LoginError) -> Self {
        let detail = error.to_string();
        match error {
            LoginError::UnknownServer(_) => Self::UnknownServer { detail },
            LoginError::WrongProvider(_) | LoginError::InvalidReturnTo(_) => Self::InvalidInput { detail },
            LoginError::Unreachable(_) => Self::TryLater { detail },
            LoginError::Configuration(_) => Self::Configuration { detail },
            LoginError::Storage(_) => Self::Storage { detail },
            LoginError::Session(session) => session.into(),
            LoginError::Cancelled { .. } => Self::Cancelled { detail },
            _ => Self::SignInFailed { detail },
        }
    }
}

impl From<DraftError> for AuthError {
    fn from(error: DraftError) -> Self {
        let detail = error.to_string();
        match error {
            DraftError::Storage(_) => Self::Storage { detail },
            DraftError::Corrupt { .. } => Self::Internal { detail },
            // A clock the host set outside the storable years: fix the input.
            DraftError::ClockOutOfRange { .. } => Self::InvalidInput { detail },
            _ => Self::InvalidInput { detail },
        }
    }
}

impl From<ServerInputError> for AuthError {
    fn from(error: ServerInputError) -> Self {
        Self::InvalidInput { detail: error.to_string() }
    }
}

impl From<AccountError> for AuthError {
    fn from(error: AccountError) -> Self {
        let detail = error.to_string();
        match error {
            AccountError::UnknownServer(_) => Self::UnknownServer { detail },
            AccountError::NotSupported(_) | AccountError::Refused(_) => Self::InvalidInput { detail },
            AccountError::SignInRequired => Self::SignInRequired { detail },
            AccountError::NotFound => Self::NotFound { detail },
            AccountError::PermissionDenied => Self::PermissionDenied { detail },
            AccountError::TryLater { .. } => Self::TryLater { detail },
            AccountError::Cancelled => Self::Cancelled { detail },
            AccountError::Configuration(_) => Self::Configuration { detail },
            AccountError::Storage(_) => Self::Storage { detail },
            _ => Self::Internal { detail },
        }
    }
}
