//! How a server authenticates: one descriptor per backend kind, with the
//! configuration that backend needs. The backends themselves live in
//! `backends/`; this is the data every layer agrees on.

use serde::{Deserialize, Serialize};

/// The kind of backend, without its configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// OpenID Connect: authorization code + PKCE, refresh_token grant, revocation.
    Oidc,
    /// A JWT access/refresh pair with a refresh endpoint (simplejwt, FastAPI apps).
    TokenPair,
    /// One long-lived opaque token per device (`Authorization: Token …`), knox-style.
    OpaqueToken,
}

/// A server's authentication method and its configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Provider {
    /// OpenID Connect.
    Oidc(OidcConfig),
    /// JWT access/refresh pair.
    TokenPair(TokenPairConfig),
    /// Opaque per-device token.
    OpaqueToken(OpaqueTokenConfig),
}

impl Provider {
    /// The backend kind.
    pub fn kind(&self) -> ProviderKind {
        match self {
            Self::Oidc(_) => ProviderKind::Oidc,
            Self::TokenPair(_) => ProviderKind::TokenPair,
            Self::OpaqueToken(_) => ProviderKind::OpaqueToken,
        }
    }
}

/// OpenID Connect configuration for a native public client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcConfig {
    /// The issuer URL; discovery is read from `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    /// The public client's id.
    pub client_id: String,
    /// Where the provider sends the browser back (a custom scheme or loopback URL).
    pub redirect_uri: String,
    /// Scopes to request; `openid` and `offline_access` are always added.
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// Where a TokenPair refresh endpoint expects the refresh token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "shape", rename_all = "snake_case")]
pub enum RefreshRequestShape {
    /// `{"<field>": "<refresh token>"}` as a JSON body (simplejwt uses `refresh`).
    JsonBody {
        /// The JSON field name.
        field: String,
    },
    /// `Authorization: Bearer <refresh token>` with an empty body.
    BearerHeader,
}

impl Default for RefreshRequestShape {
    fn default() -> Self {
        Self::JsonBody { field: "refresh".into() }
    }
}

/// JWT access/refresh pair configuration. Paths are relative to the server URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenPairConfig {
    /// Credentials login, e.g. `api/token/`.
    pub login_path: String,
    /// Refresh endpoint, e.g. `api/token/refresh/`.
    pub refresh_path: String,
    /// How the refresh token is sent.
    #[serde(default)]
    pub refresh_shape: RefreshRequestShape,
    /// Logout (blacklist) endpoint, if the server has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logout_path: Option<String>,
}

/// Opaque per-device token configuration. Paths are relative to the server URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpaqueTokenConfig {
    /// Login endpoint returning a per-device token.
    pub login_path: String,
    /// Session probe answering `{"authenticated": bool}`.
    pub probe_path: String,
    /// Logout of this device only.
    pub logout_path: String,
    /// Device sessions (list, revoke), if the server has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions_path: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_json_is_tagged_and_round_trips() {
        let p = Provider::TokenPair(TokenPairConfig {
            login_path: "api/token/".into(),
            refresh_path: "api/token/refresh/".into(),
            refresh_shape: RefreshRequestShape::BearerHeader,
            logout_path: None,
        });
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["kind"], "token_pair");
        assert_eq!(json["refresh_shape"]["shape"], "bearer_header");
        assert_eq!(serde_json::from_value::<Provider>(json).unwrap(), p);
        assert_eq!(p.kind(), ProviderKind::TokenPair);
    }
}
