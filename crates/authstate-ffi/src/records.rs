//! FFI records and enums: plain data copied out of the core. Tokens never
//! cross the boundary in these (hosts ask a session for an access token).

use authstate::model;

/// A server's session state, without its secrets.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum SessionState {
    /// Signed out, or never signed in.
    NoSession,
    /// Usable; `expires_in_secs` is the access token's remaining life, when known.
    Active { expires_in_secs: Option<i64> },
    /// Authentication failed; tokens are kept for a silent revival. Offer
    /// "sign in again" for this server.
    Expired { reason: String },
}

impl SessionState {
    pub(crate) fn of(state: &model::SessionState, now: time::OffsetDateTime) -> Self {
        match state {
            model::SessionState::NoSession => Self::NoSession,
            model::SessionState::Active { tokens, .. } => Self::Active { expires_in_secs: tokens.expires_in(now) },
            model::SessionState::Expired { reason, .. } => Self::Expired { reason: format!("{reason:?}") },
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
    /// `oidc`, `token_pair` or `opaque_token`.
    pub provider: String,
}

impl From<&model::ServerInfo> for ServerInfo {
    fn from(info: &model::ServerInfo) -> Self {
        let provider = match info.provider.kind() {
            model::ProviderKind::Oidc => "oidc",
            model::ProviderKind::TokenPair => "token_pair",
            model::ProviderKind::OpaqueToken => "opaque_token",
        };
        Self { url: info.id.as_str().to_owned(), alias: info.alias.as_str().to_owned(), provider: provider.into() }
    }
}

/// What a route guard decided.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum GuardDecision {
    /// Show the route.
    Allow,
    /// Go to `to` instead.
    Redirect { to: String },
}

impl From<authstate::GuardDecision> for GuardDecision {
    fn from(decision: authstate::GuardDecision) -> Self {
        match decision {
            authstate::GuardDecision::Allow => Self::Allow,
            authstate::GuardDecision::Redirect { to } => Self::Redirect { to },
        }
    }
}
