//! The OpaqueToken backend: one long-lived token per device
//! (`Authorization: Token …`, django-rest-knox and Notechondria style), a
//! session probe that answers 200 `{"authenticated": false}` for a stale
//! token, and device sessions (list, revoke one, log out everywhere, a
//! password change that hands this device a fresh token).
//!
//! Guarantees: only an answer about the token makes it stale — the probe's
//! `{"authenticated": false}`, or a 401; a network failure, timeout, 5xx or 429
//! says nothing about the token and changes nothing (DESIGN.md invariant 2,
//! seed `000_…`). No device-session key is read or kept. The server's
//! `expiry` timestamp is not used: device clocks lie, and the probe or the
//! next 401 tells when the token died.

pub(crate) mod devices;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};

use super::answer::{self as answers, AnswerError};
use super::wire::{self, Answer};
use crate::login::LoginError;
use crate::machine::ProbeResult;
use crate::model::{DeviceSummary, OpaqueTokenConfig, Provider, Secret, ServerInfo, TokenGrant, Tokens};
use crate::refresh::{RefreshError, Refresher, Revocation, TransientKind};

/// The `Authorization` scheme of opaque tokens.
pub const SCHEME: &str = "Token";

/// A completed credentials login at an OpaqueToken server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpaqueLogin {
    /// The device's token (no refresh token, no lifetime).
    pub grant: TokenGrant,
    /// What the server said about this device's session, if it said anything.
    pub device: Option<DeviceSummary>,
}

/// The OpaqueToken backend. One per manager; cheap to share as `Arc`.
#[derive(Debug, Clone)]
pub struct OpaqueBackend {
    http: reqwest::Client,
}

impl OpaqueBackend {
    /// A backend sending through `http`.
    pub fn new(http: reqwest::Client) -> Self {
        Self { http }
    }

    /// Signs in with a username and password (`{"username", "password"}` as
    /// JSON, plus `device_label` when given). 400, 401 and 403 are refused
    /// credentials; another 4xx, or a 2xx without a usable token (missing,
    /// with control characters or whitespace), is a configuration error.
    pub async fn login(
        &self,
        server: &ServerInfo,
        username: &str,
        password: &Secret,
        device_label: Option<&str>,
    ) -> Result<OpaqueLogin, LoginError> {
        let config = config(server).map_err(LoginError::WrongProvider)?;
        let mut body = json!({ "username": username, "password": password.expose() });
        if let Some(label) = device_label {
            body["device_label"] = json!(label);
        }
        let answer = wire::credentials_login(&self.http, server, &config.login_path, &body, password).await?;
        login_answer(&answer).map_err(|e| {
            tracing::warn!(server = %server.id, error = %e, "unusable sign-in answer");
            LoginError::Configuration(format!("{}: {e}", config.login_path))
        })
    }

    async fn send_with_token(
        &self,
        server: &ServerInfo,
        path: &str,
        method: reqwest::Method,
        token: &Secret,
    ) -> Result<Answer, RefreshError> {
        let request = wire::endpoint(server, path)
            .and_then(|url| wire::with_auth(self.http.request(method, url), SCHEME, token))
            .map_err(wire::refresh_error)?;
        wire::exchange(request).await.map_err(wire::refresh_error)
    }
}

pub(crate) fn config(server: &ServerInfo) -> Result<&OpaqueTokenConfig, String> {
    match &server.provider {
        Provider::OpaqueToken(config) => Ok(config),
        _ => Err(server.alias.to_string()),
    }
}

/// A login (or password change) answer: `token` (or `key`/`access`/
/// `access_token`), and the optional `session`, `other_sessions_count` and
/// `multi_device` of seed `001_…`. The token is checked as
/// [`answer`](crate::backends::answer) describes; device metadata that cannot
/// be read is left out rather than failing the sign-in.
pub(crate) fn login_answer(answer: &Answer) -> Result<OpaqueLogin, AnswerError> {
    #[derive(Deserialize)]
    struct Session {
        id: Option<i64>,
        device_label: Option<String>,
    }
    #[derive(Deserialize)]
    struct Meta {
        session: Option<Session>,
        other_sessions_count: Option<u32>,
        multi_device: Option<bool>,
    }
    let Some(Value::Object(map)) = answer.json::<Value>() else { return Err(AnswerError::NotJson) };
    let token = ["token", "key", "access", "access_token"].iter().find_map(|k| map.get(*k).filter(|v| !v.is_null()));
    let token = answers::access_token(token)?;
    let meta = serde_json::from_value::<Meta>(Value::Object(map)).ok();
    let device = meta.filter(|m| m.session.is_some() || m.other_sessions_count.is_some() || m.multi_device.is_some());
    let device = device.map(|meta| {
        let other_sessions = meta.other_sessions_count.unwrap_or(0);
        let session = meta.session.unwrap_or(Session { id: None, device_label: None });
        DeviceSummary {
            session_id: session.id,
            device_label: session.device_label,
            other_sessions,
            multi_device: meta.multi_device.unwrap_or(other_sessions > 0),
        }
    });
    Ok(OpaqueLogin { grant: TokenGrant { access: token, refresh: None, id_token: None, expires_in: None }, device })
}

/// What a probe answer says about the token.
fn probe_result(answer: &Answer, path: &str, token: &Secret) -> Result<ProbeResult, RefreshError> {
    #[derive(Deserialize)]
    struct Probe {
        authenticated: bool,
    }
    match answer.status {
        200..=299 => match answer.json::<Probe>() {
            Some(Probe { authenticated: true }) => Ok(ProbeResult::Valid),
            Some(Probe { authenticated: false }) => Ok(ProbeResult::Stale),
            None => Err(RefreshError::transient(TransientKind::MalformedResponse)),
        },
        // A probe behind token authentication (seed 000's 0.1.63) answers a
        // stale token with 401: still an answer about the token.
        401 => Ok(ProbeResult::Stale),
        _ => Err(RefreshError::Configuration {
            detail: format!("{path} answered {} to a session probe", answer.describe(&[token])),
        }),
    }
}

#[async_trait]
impl Refresher for OpaqueBackend {
    /// Opaque tokens are not refreshed: a session without a refresh token
    /// expires when its token is refused (DESIGN.md invariant 3).
    async fn refresh(&self, _server: &ServerInfo, _tokens: &Tokens) -> Result<TokenGrant, RefreshError> {
        Err(RefreshError::NoRefreshToken)
    }

    /// Logs this device out (its token only; other devices stay signed in).
    /// A 401 means the token was already dead.
    async fn revoke(&self, server: &ServerInfo, tokens: &Tokens) -> Result<Revocation, RefreshError> {
        let path = &config(server).map_err(|alias| not_opaque(&alias))?.logout_path;
        let answer = self.send_with_token(server, path, reqwest::Method::POST, &tokens.access).await?;
        match answer.status {
            200..=299 | 401 => Ok(Revocation::Revoked),
            _ => Err(RefreshError::Configuration {
                detail: format!("{path} answered {} to a logout", answer.describe(&[&tokens.access])),
            }),
        }
    }

    async fn probe(&self, server: &ServerInfo, tokens: &Tokens) -> Result<ProbeResult, RefreshError> {
        let path = &config(server).map_err(|alias| not_opaque(&alias))?.probe_path;
        let answer = self.send_with_token(server, path, reqwest::Method::GET, &tokens.access).await?;
        probe_result(&answer, path, &tokens.access)
    }
}

fn not_opaque(alias: &str) -> RefreshError {
    RefreshError::Configuration { detail: format!("server {alias} is not an OpaqueToken server") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Answer {
        Answer { status, body: body.as_bytes().to_vec() }
    }

    #[test]
    fn only_an_answer_about_the_token_makes_it_stale() {
        let token = Secret::new("k");
        let probe = |status, body| probe_result(&answer(status, body), "api/v1/auth/session/", &token);
        assert_eq!(probe(200, r#"{"authenticated": true, "user": {}}"#), Ok(ProbeResult::Valid));
        assert_eq!(probe(200, r#"{"authenticated": false}"#), Ok(ProbeResult::Stale));
        assert_eq!(probe(401, r#"{"detail": "Invalid token."}"#), Ok(ProbeResult::Stale));
        assert_eq!(probe(200, "<html>"), Err(RefreshError::transient(TransientKind::MalformedResponse)));
        assert!(matches!(probe(404, ""), Err(RefreshError::Configuration { .. })));
    }

    #[test]
    fn login_answers_with_and_without_device_metadata() {
        let full = r#"{"token": "t", "session": {"id": 17, "device_label": "Mac"}, "multi_device": true, "other_sessions_count": 2}"#;
        let login = login_answer(&answer(200, full)).unwrap();
        assert_eq!(login.grant.access.expose(), "t");
        let device = login.device.unwrap();
        assert_eq!(
            (device.session_id, device.device_label.as_deref(), device.other_sessions),
            (Some(17), Some("Mac"), 2)
        );
        assert!(device.multi_device);
        let knox = login_answer(&answer(200, r#"{"expiry": "2026-12-01T00:00:00Z", "token": "t"}"#)).unwrap();
        assert_eq!((knox.device, knox.grant.expires_in), (None, None));
        assert_eq!(login_answer(&answer(200, r#"{"token": ""}"#)).err(), Some(AnswerError::NoAccessToken));
        let crlf = login_answer(&answer(200, r#"{"token": "t\r\nX: 1"}"#)).err();
        assert_eq!(crlf, Some(AnswerError::TokenCharacters("access token")));
        let odd_meta = login_answer(&answer(200, r#"{"token": "t", "other_sessions_count": -1}"#)).unwrap();
        assert_eq!(odd_meta.device, None, "unreadable metadata is left out");
    }
}
