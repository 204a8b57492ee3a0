//! FFI records and enums: plain data copied out of the core. None of them
//! holds a secret (generated `toString`/`repr` print every field), so hosts
//! ask a session for an access token and get it as a bare string.

use authstate::model;

/// A server's session state as observers see it: its case, why it expired,
/// and which backend. Never a secret, and never the token's remaining life
/// (that is [`TokenInfo::expires_in_secs`]): a refresh does not change it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum SessionState {
    /// Signed out, or never signed in: offer "sign in".
    NoSession,
    /// Usable.
    Active {
        /// The backend that issued the tokens.
        provider: ProviderKind,
    },
    /// Authentication failed; tokens are kept for a silent revival. Offer
    /// "sign in again" for this server only.
    Expired {
        /// The backend that issued the tokens.
        provider: ProviderKind,
        /// Why it expired.
        reason: ExpiryReason,
    },
}

impl From<authstate::StateView> for SessionState {
    fn from(view: authstate::StateView) -> Self {
        match view {
            authstate::StateView::NoSession => Self::NoSession,
            authstate::StateView::Active { provider } => Self::Active { provider: provider.into() },
            authstate::StateView::Expired { provider, reason } => {
                Self::Expired { provider: provider.into(), reason: reason.into() }
            }
        }
    }
}

impl SessionState {
    pub(crate) fn of(state: &model::SessionState) -> Self {
        authstate::StateView::of(state).into()
    }
}

/// One emission of a [`StateWatch`](crate::observe::StateWatch): the state,
/// and the connection revision it was read at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct StateObservation {
    /// The connection revision, read before the state: no change is missed.
    pub revision: u64,
    /// The server's state.
    pub state: SessionState,
}

/// Why a session expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ExpiryReason {
    /// The server rejected the refresh token (revoked, rotated away, blacklisted).
    RefreshRejected,
    /// A refresh was needed but the server never issued a refresh token.
    NoRefreshToken,
    /// A resource answered 401 and the token could not be refreshed.
    Unauthorized,
    /// A session probe said the token is no longer valid.
    StaleToken,
    /// The app marked the session expired.
    Marked,
    /// The refresh endpoint answered like a misconfiguration (wrong path or
    /// request shape): fix the server entry; signing in again works until
    /// the next refresh.
    Misconfigured,
    /// A refresh was cut short (the app was killed after sending the refresh
    /// token, before saving the answer), and the server then refused that
    /// refresh token: it had rotated it. Nothing the user did; sign in again.
    RefreshInterrupted,
}

impl From<model::ExpiryReason> for ExpiryReason {
    fn from(reason: model::ExpiryReason) -> Self {
        match reason {
            model::ExpiryReason::RefreshRejected => Self::RefreshRejected,
            model::ExpiryReason::NoRefreshToken => Self::NoRefreshToken,
            model::ExpiryReason::Unauthorized => Self::Unauthorized,
            model::ExpiryReason::StaleToken => Self::StaleToken,
            model::ExpiryReason::Misconfigured => Self::Misconfigured,
            model::ExpiryReason::RefreshInterrupted => Self::RefreshInterrupted,
            _ => Self::Marked,
        }
    }
}

/// Which kind of backend a server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ProviderKind {
    /// OpenID Connect / OAuth 2 (authorization code with PKCE).
    Oidc,
    /// A JWT access/refresh pair (Django simplejwt and the like).
    TokenPair,
    /// One opaque token per device (Django knox and the like).
    OpaqueToken,
}

impl From<model::ProviderKind> for ProviderKind {
    fn from(kind: model::ProviderKind) -> Self {
        match kind {
            model::ProviderKind::Oidc => Self::Oidc,
            model::ProviderKind::TokenPair => Self::TokenPair,
            model::ProviderKind::OpaqueToken => Self::OpaqueToken,
        }
    }
}

impl From<ProviderKind> for model::ProviderKind {
    fn from(kind: ProviderKind) -> Self {
        match kind {
            ProviderKind::Oidc => Self::Oidc,
            ProviderKind::TokenPair => Self::TokenPair,
            ProviderKind::OpaqueToken => Self::OpaqueToken,
        }
    }
}

/// A server the manager holds.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ServerInfo {
    /// The normalised base URL.
    pub url: String,
    /// The short, URL-safe alias used in routes.
    pub alias: String,
    /// Its backend.
    pub provider: ProviderKind,
}

impl From<&model::ServerInfo> for ServerInfo {
    fn from(info: &model::ServerInfo) -> Self {
        Self {
            url: info.id.as_str().to_owned(),
            alias: info.alias.as_str().to_owned(),
            provider: info.provider.kind().into(),
        }
    }
}

/// What is known about a session's tokens, without the tokens.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TokenInfo {
    /// Seconds until the access token expires (negative once past), if known.
    pub expires_in_secs: Option<i64>,
    /// Whether the session can refresh silently.
    pub has_refresh_token: bool,
    /// Whether an OpenID Connect ID token is held.
    pub has_id_token: bool,
    /// Whether these tokens are in use but not saved yet: the stores refused
    /// them (a locked Keychain, a full disk). They are saved at the next call
    /// and at `on_resume`; the connection revision moves when this changes.
    #[uniffi(default = false)]
    pub persistence_pending: bool,
}

impl TokenInfo {
    pub(crate) fn of(tokens: &model::Tokens, now: time::OffsetDateTime, persistence_pending: bool) -> Self {
        Self {
            expires_in_secs: tokens.expires_in(now),
            has_refresh_token: tokens.refresh.is_some(),
            has_id_token: tokens.id_token.is_some(),
            persistence_pending,
        }
    }
}

/// What a route guard decided.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum GuardDecision {
    /// Show the route.
    Allow,
    /// Go to `to` instead (the sign-in route, carrying a safe `returnTo`).
    Redirect {
        /// Where to go.
        to: String,
    },
}

impl From<authstate::GuardDecision> for GuardDecision {
    fn from(decision: authstate::GuardDecision) -> Self {
        match decision {
            authstate::GuardDecision::Allow => Self::Allow,
            authstate::GuardDecision::Redirect { to } => Self::Redirect { to },
        }
    }
}

/// Why a request failed, by what the app should show or do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum FailureReason {
    /// The server could not be reached. Retry later; the session is untouched.
    Network,
    /// The request timed out. Retry later; the session is untouched.
    Timeout,
    /// The session expired or is signed out: offer "sign in again" for this server.
    AuthExpired,
    /// 403: this user may not do this. Show it inline; the session is untouched.
    PermissionDenied,
    /// 404.
    NotFound,
    /// 429: slow down.
    RateLimited,
    /// 5xx. Retry later.
    ServerError,
    /// The caller cancelled, or the session left `Active` while the request ran.
    Cancelled,
    /// A bug or misconfiguration: report it.
    Internal,
}

impl From<authstate::FailureReason> for FailureReason {
    fn from(reason: authstate::FailureReason) -> Self {
        use authstate::FailureReason as Core;
        match reason {
            Core::Network => Self::Network,
            Core::Timeout => Self::Timeout,
            Core::AuthExpired => Self::AuthExpired,
            Core::PermissionDenied => Self::PermissionDenied,
            Core::NotFound => Self::NotFound,
            Core::RateLimited => Self::RateLimited,
            Core::ServerError => Self::ServerError,
            Core::Cancelled => Self::Cancelled,
            Core::Internal => Self::Internal,
        }
    }
}

/// What to do with a response the host's own HTTP stack received
/// (see `ServerSession.on_response`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum ResponseVerdict {
    /// Not an authentication failure: hand the response to the caller as is.
    Pass,
    /// The session refreshed: send the request once more with
    /// `valid_access_token()`. If the retry is answered 401 again, give up.
    Retry,
    /// 403: this user may not do this. The session is untouched.
    PermissionDenied,
    /// The session expired (tokens kept): offer "sign in again" for this server.
    SessionExpired {
        /// Why it expired.
        reason: ExpiryReason,
    },
    /// No session for this server: sign in.
    SignedOut,
    /// The refresh failed transiently: treat the request as failed and retry
    /// later. Nothing changed.
    TryLater {
        /// What failed.
        reason: FailureReason,
        /// How long to wait, when the server said.
        retry_after_secs: Option<u64>,
    },
    /// Something else failed (storage, configuration, a removed server).
    Failed {
        /// What happened (never a secret).
        detail: String,
    },
}

impl From<authstate::ResponseVerdict> for ResponseVerdict {
    fn from(verdict: authstate::ResponseVerdict) -> Self {
        use authstate::ResponseVerdict as Core;
        match verdict {
            Core::Pass => Self::Pass,
            Core::RetryWith(_) => Self::Retry,
            Core::PermissionDenied => Self::PermissionDenied,
            Core::SessionExpired { reason } => Self::SessionExpired { reason: reason.into() },
            Core::SignedOut => Self::SignedOut,
            Core::TryLater { kind, retry_after } => Self::TryLater {
                reason: authstate::FailureReason::from(kind).into(),
                retry_after_secs: retry_after.map(|d| u64::try_from(d.whole_seconds()).unwrap_or(0)),
            },
            Core::Failed(error) => Self::Failed { detail: error.to_string() },
        }
    }
}

/// A completed sign-in.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct LoginResult {
    /// The server now `Active`.
    pub server: ServerInfo,
    /// Where to go next: a validated relative path, if the sign-in carried one.
    pub return_to: Option<String>,
    /// Whether the tokens reached storage (false: usable now, lost on restart).
    pub persisted: bool,
    /// What a multi-device server said about this device's session.
    #[uniffi(default = None)]
    pub device: Option<crate::account::DeviceSummary>,
}

impl From<authstate::LoginOutcome> for LoginResult {
    fn from(outcome: authstate::LoginOutcome) -> Self {
        Self {
            server: ServerInfo::from(&outcome.server),
            return_to: outcome.return_to.map(|r| r.as_str().to_owned()),
            persisted: outcome.persisted,
            device: outcome.device.as_ref().map(crate::account::DeviceSummary::from),
        }
    }
}

/// What happened to the tokens at the server when signing out. The local
/// sign-out has always happened.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum RevocationOutcome {
    /// The server revoked the tokens.
    Revoked,
    /// The server offers no revocation.
    NotSupported,
    /// There was no token to revoke.
    NothingToRevoke,
    /// Revocation failed; the tokens expire on their own.
    Failed {
        /// What happened (never a secret).
        detail: String,
    },
}

impl From<authstate::RevocationOutcome> for RevocationOutcome {
    fn from(outcome: authstate::RevocationOutcome) -> Self {
        use authstate::RevocationOutcome as Core;
        match outcome {
            Core::Revoked => Self::Revoked,
            Core::NotSupported => Self::NotSupported,
            Core::NothingToRevoke => Self::NothingToRevoke,
            Core::Failed(error) => Self::Failed { detail: error.to_string() },
        }
    }
}

/// What a session probe said about the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ProbeResult {
    /// The server accepts the token.
    Valid,
    /// The token is no longer valid: the session is now `Expired` (tokens
    /// kept). Offer "sign in again" for this server; no error to show.
    Stale,
    /// No answer (network, timeout, 5xx): nothing changed.
    Unreachable,
}

impl From<authstate::ProbeResult> for ProbeResult {
    fn from(result: authstate::ProbeResult) -> Self {
        match result {
            authstate::ProbeResult::Valid => Self::Valid,
            authstate::ProbeResult::Stale => Self::Stale,
            authstate::ProbeResult::Unreachable => Self::Unreachable,
        }
    }
}
