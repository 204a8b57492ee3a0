//! The TokenPair backend: a JWT access/refresh pair from a credentials login,
//! a refresh endpoint whose request shape is configured (JSON body field, or
//! `Authorization: Bearer <refresh>`), and logout by blacklisting the refresh
//! token — as Django simplejwt and FastAPI apps do.
//!
//! Guarantees: a 401 (or OAuth `invalid_grant`) from the refresh endpoint is
//! the only definitive rejection — unless it says no credentials were sent at
//! all, which means the token went where the server does not look; any other
//! 4xx is a configuration error,
//! reported as such and never taken for a rejected token or swallowed;
//! transport failures, 5xx, 429 and unreadable answers are transient
//! (DESIGN.md invariants 2 and 3). The access token's lifetime comes from
//! `expires_in` or the JWT's own `exp - iat`, dated by the local clock.

use async_trait::async_trait;
use serde_json::json;

use super::wire::{self, Answer};
use crate::http::TransportError;
use crate::login::LoginError;
use crate::model::{Provider, RefreshRequestShape, Secret, ServerId, ServerInfo, TokenGrant, TokenPairConfig, Tokens};
use crate::refresh::{RefreshError, Refresher, Revocation, TransientKind};

/// The TokenPair backend. One per manager; cheap to share as `Arc`.
#[derive(Debug, Clone)]
pub struct TokenPairBackend {
    http: reqwest::Client,
}

impl TokenPairBackend {
    /// A backend sending through `http`.
    pub fn new(http: reqwest::Client) -> Self {
        Self { http }
    }

    /// Signs in with a username and password (`{"username", "password"}` as
    /// JSON). 400, 401 and 403 are refused credentials; another 4xx, or a 2xx
    /// without a usable access token (missing, with control characters, a
    /// negative `expires_in`), is a configuration error saying what is wrong.
    pub async fn login(
        &self,
        server: &ServerInfo,
        username: &str,
        password: &Secret,
    ) -> Result<TokenGrant, LoginError> {
        let config = config(server).map_err(LoginError::WrongProvider)?;
        let body = json!({ "username": username, "password": password.expose() });
        let answer = wire::credentials_login(&self.http, server, &config.login_path, &body, password).await?;
        wire::token_grant(&server.id, &answer.body).map_err(|e| {
            tracing::warn!(server = %server.id, error = %e, "unusable sign-in answer");
            LoginError::Configuration(format!("{}: {e}", config.login_path))
        })
    }

    /// Builds the refresh request in the configured shape.
    fn refresh_request(
        &self,
        server: &ServerInfo,
        path: &str,
        shape: &RefreshRequestShape,
        refresh: &Secret,
    ) -> Result<reqwest::RequestBuilder, TransportError> {
        let request = self.http.post(wire::endpoint(server, path)?);
        match shape {
            RefreshRequestShape::JsonBody { field } => {
                Ok(wire::with_json(request, &json!({ field: refresh.expose() })))
            }
            RefreshRequestShape::BearerHeader => wire::with_auth(request, "Bearer", refresh),
        }
    }
}

fn config(server: &ServerInfo) -> Result<&TokenPairConfig, String> {
    match &server.provider {
        Provider::TokenPair(config) => Ok(config),
        _ => Err(server.alias.to_string()),
    }
}

/// What a refresh answer means. `shape` names the request shape in the
/// configuration error, so a mismatch like "header sent, body expected" is
/// obvious from the message. A 2xx whose tokens cannot be used is a
/// malformed answer (transient: the old tokens are kept).
fn refresh_result(
    server: &ServerId,
    answer: &Answer,
    path: &str,
    shape: &RefreshRequestShape,
    refresh: &Secret,
) -> Result<TokenGrant, RefreshError> {
    match answer.status {
        200..=299 => wire::token_grant(server, &answer.body).map_err(|e| {
            tracing::warn!(server = %server, error = %e, "unusable refresh answer; treated as transient");
            RefreshError::transient(TransientKind::MalformedResponse)
        }),
        401 if !answer.says_no_credentials() => Err(RefreshError::Rejected { detail: answer.describe(&[refresh]) }),
        400 if answer.oauth_error().as_deref() == Some("invalid_grant") => {
            Err(RefreshError::Rejected { detail: answer.describe(&[refresh]) })
        }
        _ => {
            let sent = match shape {
                RefreshRequestShape::JsonBody { field } => format!("a JSON body field {field:?}"),
                RefreshRequestShape::BearerHeader => "an Authorization: Bearer header".to_owned(),
            };
            Err(RefreshError::Configuration {
                detail: format!(
                    "{path} answered {} to a refresh token sent as {sent}: check the refresh path and request shape",
                    answer.describe(&[refresh])
                ),
            })
        }
    }
}

#[async_trait]
impl Refresher for TokenPairBackend {
    async fn refresh(&self, server: &ServerInfo, tokens: &Tokens) -> Result<TokenGrant, RefreshError> {
        let config = config(server).map_err(|alias| RefreshError::Configuration {
            detail: format!("server {alias} is not a TokenPair server"),
        })?;
        let refresh = tokens.refresh.as_ref().ok_or(RefreshError::NoRefreshToken)?;
        let request = self
            .refresh_request(server, &config.refresh_path, &config.refresh_shape, refresh)
            .map_err(wire::refresh_error)?;
        let answer = wire::exchange(request).await.map_err(wire::refresh_error)?;
        refresh_result(&server.id, &answer, &config.refresh_path, &config.refresh_shape, refresh)
    }

    /// Blacklists the refresh token at the logout endpoint, sent in the same
    /// shape as a refresh. A 401 means the token is already dead (blacklisted
    /// or expired): nothing is left to revoke.
    async fn revoke(&self, server: &ServerInfo, tokens: &Tokens) -> Result<Revocation, RefreshError> {
        let config = config(server).map_err(|alias| RefreshError::Configuration {
            detail: format!("server {alias} is not a TokenPair server"),
        })?;
        let (Some(path), Some(refresh)) = (&config.logout_path, &tokens.refresh) else {
            return Ok(Revocation::NotSupported);
        };
        let request =
            self.refresh_request(server, path, &config.refresh_shape, refresh).map_err(wire::refresh_error)?;
        let answer = wire::exchange(request).await.map_err(wire::refresh_error)?;
        match answer.status {
            200..=299 | 401 => Ok(Revocation::Revoked),
            _ => Err(RefreshError::Configuration {
                detail: format!("{path} answered {} to a logout", answer.describe(&[refresh])),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Answer {
        Answer { status, body: body.as_bytes().to_vec() }
    }

    fn refresh_result(
        answer: &Answer,
        path: &str,
        shape: &RefreshRequestShape,
        refresh: &Secret,
    ) -> Result<TokenGrant, RefreshError> {
        let server = ServerId::parse("https://api.example").expect("server");
        super::refresh_result(&server, answer, path, shape, refresh)
    }

    #[test]
    fn only_auth_answers_reject_the_refresh_token() {
        let refresh = Secret::new("r-1");
        let shape = RefreshRequestShape::default();
        let blacklisted = answer(401, r#"{"detail":"Token is blacklisted","code":"token_not_valid"}"#);
        match refresh_result(&blacklisted, "api/token/refresh/", &shape, &refresh) {
            Err(RefreshError::Rejected { detail }) => assert!(detail.contains("Token is blacklisted"), "{detail}"),
            other => panic!("{other:?}"),
        }
        let oauth = answer(400, r#"{"error":"invalid_grant"}"#);
        assert!(matches!(refresh_result(&oauth, "p", &shape, &refresh), Err(RefreshError::Rejected { .. })));
        let elsewhere = answer(401, r#"{"detail":"Authentication credentials were not provided."}"#);
        assert!(matches!(refresh_result(&elsewhere, "p", &shape, &refresh), Err(RefreshError::Configuration { .. })));
        for status in [400, 403, 404, 405, 415, 422] {
            let got = refresh_result(&answer(status, r#"{"detail":"Not authenticated"}"#), "p", &shape, &refresh);
            assert!(matches!(got, Err(RefreshError::Configuration { .. })), "{status}: {got:?}");
        }
        for garbage in ["<html>", r#"{"access": "a\r\nb"}"#, r#"{"access": "a", "expires_in": -1}"#] {
            let got = refresh_result(&answer(200, garbage), "p", &shape, &refresh);
            assert_eq!(got, Err(RefreshError::transient(TransientKind::MalformedResponse)), "{garbage}");
        }
    }

    #[test]
    fn a_shape_mismatch_says_what_was_sent() {
        let refresh = Secret::new("r-1");
        let fastapi = answer(422, r#"{"detail":[{"loc":["query","refresh_token"],"msg":"field required"}]}"#);
        let Err(RefreshError::Configuration { detail }) =
            refresh_result(&fastapi, "api/v1/auth/refresh", &RefreshRequestShape::BearerHeader, &refresh)
        else {
            panic!("a 422 is a configuration error");
        };
        assert!(detail.contains("422") && detail.contains("query.refresh_token: field required"), "{detail}");
        assert!(detail.contains("Authorization: Bearer"), "{detail}");
        assert!(!detail.contains("r-1"));
    }
}
