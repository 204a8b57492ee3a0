//! How a server authenticates: one descriptor per backend kind, with the
//! configuration that backend needs. The backends themselves live in
//! `backends/`; this is the data every layer agrees on.

use serde::{Deserialize, Serialize};
use url::Url;

use super::ServerId;
use super::endpoint::{check_endpoint_path, shown};
use super::server::ServerInputError;

/// The longest client id accepted.
const MAX_CLIENT_ID: usize = 256;
/// The longest URL or path accepted in a provider configuration.
const MAX_URL: usize = 2048;
/// At most this many extra scopes, each at most this long.
const MAX_SCOPES: usize = 32;
const MAX_SCOPE_LEN: usize = 128;

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

impl ProviderKind {
    /// The kind's name in logs and messages (`oidc`, `token_pair`, `opaque_token`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Oidc => "oidc",
            Self::TokenPair => "token_pair",
            Self::OpaqueToken => "opaque_token",
        }
    }
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

    /// Checks the configuration before it is stored: the issuer is an https
    /// (or loopback http) URL, the client id 1-256 visible characters, the
    /// redirect URI an absolute URL, each scope an RFC 6749 scope token, and
    /// every endpoint path a relative path that stays below the server URL
    /// after any decoding (DESIGN.md invariant 15).
    pub fn validate(&self) -> Result<(), ServerInputError> {
        match self {
            Self::Oidc(c) => {
                ServerId::parse(&c.issuer).map_err(|e| invalid(format!("issuer: {e}")))?;
                let visible = |s: &str| s.chars().all(|ch| ch.is_ascii_graphic());
                if c.client_id.is_empty() || c.client_id.len() > MAX_CLIENT_ID || !visible(&c.client_id) {
                    return Err(invalid(format!("client id must be 1-{MAX_CLIENT_ID} visible ASCII characters")));
                }
                if c.redirect_uri.len() > MAX_URL || Url::parse(&c.redirect_uri).is_err() {
                    return Err(invalid(format!("redirect URI must be an absolute URL of at most {MAX_URL} bytes")));
                }
                let scope_token = |s: &str| {
                    (1..=MAX_SCOPE_LEN).contains(&s.len())
                        && s.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
                };
                if c.scopes.len() > MAX_SCOPES || !c.scopes.iter().all(|s| scope_token(s)) {
                    return Err(invalid(format!("scopes: at most {MAX_SCOPES} RFC 6749 scope tokens")));
                }
                Ok(())
            }
            Self::TokenPair(c) => {
                let paths = [Some(&c.login_path), Some(&c.refresh_path), c.logout_path.as_ref()];
                paths.into_iter().flatten().try_for_each(|p| relative_path(p))?;
                match &c.refresh_shape {
                    RefreshRequestShape::JsonBody { field } if !json_field(field) => {
                        Err(invalid(format!("refresh field {} must be 1-64 visible ASCII characters", shown(field))))
                    }
                    _ => Ok(()),
                }
            }
            Self::OpaqueToken(c) => {
                let paths = [
                    Some(&c.login_path),
                    Some(&c.probe_path),
                    Some(&c.logout_path),
                    c.sessions_path.as_ref(),
                    c.logout_all_path.as_ref(),
                    c.password_path.as_ref(),
                ];
                paths.into_iter().flatten().try_for_each(|p| relative_path(p))?;
                Ok(())
            }
        }
    }
}

fn invalid(detail: String) -> ServerInputError {
    ServerInputError::InvalidProvider(detail)
}

/// A JSON field name: 1-64 visible ASCII characters.
fn json_field(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_graphic())
}

/// An endpoint path below the server URL (see [`check_endpoint_path`]).
fn relative_path(path: &str) -> Result<(), ServerInputError> {
    check_endpoint_path(path).map_err(|e| {
        invalid(format!("endpoint path {} must be a relative path below the server URL: {e}", shown(path)))
    })
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
    /// Device sessions: `GET` lists them, `DELETE <path><id>/` revokes one,
    /// if the server has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions_path: Option<String>,
    /// Logout of every device of the account, if the server has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logout_all_path: Option<String>,
    /// Password change answering with a fresh token for this device, if the server has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_path: Option<String>,
}

impl OpaqueTokenConfig {
    /// The Notechondria-style layout under `prefix` (e.g. `api/v1/auth/`):
    /// `login/`, `session/`, `logout/`, `sessions/`, `logoutall/`, `password/`.
    pub fn under(prefix: &str) -> Self {
        let path = |p: &str| format!("{prefix}{p}");
        Self {
            login_path: path("login/"),
            probe_path: path("session/"),
            logout_path: path("logout/"),
            sessions_path: Some(path("sessions/")),
            logout_all_path: Some(path("logoutall/")),
            password_path: Some(path("password/")),
        }
    }
}

impl TokenPairConfig {
    /// Django simplejwt's layout under `prefix` (e.g. `api/token/`): login at
    /// the prefix, `refresh/` with a JSON `refresh` field, `blacklist/` to log out.
    pub fn simplejwt(prefix: &str) -> Self {
        Self {
            login_path: prefix.to_owned(),
            refresh_path: format!("{prefix}refresh/"),
            refresh_shape: RefreshRequestShape::default(),
            logout_path: Some(format!("{prefix}blacklist/")),
        }
    }
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
        assert_eq!(p.validate(), Ok(()));
    }

    fn oidc(issuer: &str, client_id: &str, redirect_uri: &str, scopes: &[&str]) -> Provider {
        Provider::Oidc(OidcConfig {
            issuer: issuer.into(),
            client_id: client_id.into(),
            redirect_uri: redirect_uri.into(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        })
    }

    #[test]
    fn oidc_configuration_is_checked_before_it_is_stored() {
        let ok = oidc("https://id.example.com", "notes-app", "com.example.notes:/callback", &["profile"]);
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(oidc("http://127.0.0.1:8080", "a", "http://127.0.0.1/cb", &[]).validate(), Ok(()));
        let huge = "x".repeat(1 << 20);
        for bad in [
            oidc("not a url", "a", "app:/cb", &[]),
            oidc("http://id.example.com", "a", "app:/cb", &[]),
            oidc(&format!("https://{huge}.example"), "a", "app:/cb", &[]),
            oidc("https://id.example.com", "", "app:/cb", &[]),
            oidc("https://id.example.com", &huge, "app:/cb", &[]),
            oidc("https://id.example.com", "a b", "app:/cb", &[]),
            oidc("https://id.example.com", "a", "", &[]),
            oidc("https://id.example.com", "a", "/relative", &[]),
            oidc("https://id.example.com", "a", &format!("app:/{huge}"), &[]),
            oidc("https://id.example.com", "a", "app:/cb", &[""]),
            oidc("https://id.example.com", "a", "app:/cb", &["two words"]),
            oidc("https://id.example.com", "a", "app:/cb", &[&huge]),
        ] {
            assert!(matches!(bad.validate(), Err(ServerInputError::InvalidProvider(_))), "{bad:.80?}");
        }
    }

    #[test]
    fn endpoint_paths_must_stay_below_the_server() {
        for bad in [
            "",
            "/api/token/",
            "https://evil.example/token",
            "../admin",
            "a b",
            "\\\\127.0.0.1:8766/steal/",
            "%2e%2e/x",
        ] {
            let p = Provider::OpaqueToken(OpaqueTokenConfig {
                login_path: bad.into(),
                probe_path: "api/me/".into(),
                logout_path: "api/logout/".into(),
                sessions_path: None,
                logout_all_path: None,
                password_path: None,
            });
            assert!(p.validate().is_err(), "{bad:?}");
        }
    }
}
