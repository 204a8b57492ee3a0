//! The wire half the credential backends (TokenPair, OpaqueToken) share:
//! endpoint URLs below a server, one exchange through the shared client with
//! 5xx/429 and transport failures sorted out as transient, token answers
//! read, and server messages summarised without secrets.
//!
//! Guarantees: no URL, body or header that could hold a token reaches an
//! error or a log line; a server message is kept only if it contains none of
//! the secrets the request carried.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use super::answer::{self, AnswerError};
use crate::http::{TransportError, retry_after_from};
use crate::login::LoginError;
use crate::model::endpoint::shown;
use crate::model::{Secret, ServerId, ServerInfo, TokenGrant, endpoint_url};
use crate::refresh::RefreshError;

/// The longest server message kept in an error, in characters.
const MAX_MESSAGE: usize = 160;
/// At most this many messages from one answer.
const MAX_MESSAGES: usize = 3;

/// An answer that is neither a transport failure nor a 5xx/429.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    /// The body as JSON, if it is JSON.
    pub(crate) fn json<T: for<'de> Deserialize<'de>>(&self) -> Option<T> {
        serde_json::from_slice(&self.body).ok()
    }

    /// `"<status>"` followed by the server's messages that hold none of `secrets`.
    pub(crate) fn describe(&self, secrets: &[&Secret]) -> String {
        let messages = messages(&self.body, secrets);
        if messages.is_empty() {
            format!("{}", self.status)
        } else {
            format!("{} ({})", self.status, messages.join("; "))
        }
    }

    /// Whether the server says the request carried no credentials at all:
    /// DRF's `not_authenticated` ("Authentication credentials were not
    /// provided.") or FastAPI's "Not authenticated". Sent with a token, that
    /// means the server looked for it elsewhere.
    pub(crate) fn says_no_credentials(&self) -> bool {
        #[derive(Deserialize)]
        struct Body {
            detail: Option<String>,
            code: Option<String>,
        }
        self.json::<Body>().is_some_and(|b| {
            b.code.as_deref() == Some("not_authenticated")
                || matches!(
                    b.detail.as_deref(),
                    Some("Authentication credentials were not provided." | "Not authenticated")
                )
        })
    }

    /// The OAuth `error` code (`invalid_grant`), when the body has one.
    pub(crate) fn oauth_error(&self) -> Option<String> {
        #[derive(Deserialize)]
        struct OAuthError {
            error: String,
        }
        self.json::<OAuthError>().map(|e| e.error)
    }
}

/// `path` below the server's base URL (DESIGN.md invariant 15). Paths were
/// checked when the server was added; a failure here means a stored entry
/// was tampered with, and no request is built.
pub(crate) fn endpoint(server: &ServerInfo, path: &str) -> Result<Url, TransportError> {
    endpoint_url(&server.id, path).map_err(|e| {
        let path = shown(path);
        tracing::error!(server = %server.id, error = %e, "endpoint path {path} refused");
        TransportError::Request { detail: format!("endpoint path {path} refused: {e}") }
    })
}

/// A JSON body for `request`.
pub(crate) fn with_json(request: reqwest::RequestBuilder, body: &Value) -> reqwest::RequestBuilder {
    request.header(CONTENT_TYPE, HeaderValue::from_static("application/json")).body(body.to_string())
}

/// `Authorization: <scheme> <secret>`, marked sensitive so it is never logged.
pub(crate) fn with_auth(
    request: reqwest::RequestBuilder,
    scheme: &str,
    secret: &Secret,
) -> Result<reqwest::RequestBuilder, TransportError> {
    let mut value = HeaderValue::try_from(format!("{scheme} {}", secret.expose()))
        .map_err(|_| TransportError::Request { detail: "a token is not a valid header value".into() })?;
    value.set_sensitive(true);
    Ok(request.header(AUTHORIZATION, value))
}

/// Sends `request` and reads the whole answer. Connection failures, timeouts,
/// unreadable bodies, 5xx and 429 come back as [`TransportError`] (transient).
pub(crate) async fn exchange(request: reqwest::RequestBuilder) -> Result<Answer, TransportError> {
    let response = request.send().await.map_err(TransportError::from_reqwest)?;
    let status = response.status();
    if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        return Err(TransportError::Status {
            status: status.as_u16(),
            retry_after: retry_after_from(response.headers()),
        });
    }
    read(response).await
}

/// Reads a whole response the caller has already classified.
pub(crate) async fn read(response: reqwest::Response) -> Result<Answer, TransportError> {
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(TransportError::from_reqwest)?;
    Ok(Answer { status, body: body.to_vec() })
}

/// Posts a credentials login to `path` with `body` as JSON and returns the
/// 2xx answer. 400, 401 and 403 are refused credentials; any other 4xx is a
/// configuration error; transport failures, 5xx and 429 are "unreachable".
/// No message holds `password`.
pub(crate) async fn credentials_login(
    http: &reqwest::Client,
    server: &ServerInfo,
    path: &str,
    body: &Value,
    password: &Secret,
) -> Result<Answer, LoginError> {
    let request = endpoint(server, path).map(|url| with_json(http.post(url), body)).map_err(login_error)?;
    let answer = exchange(request).await.map_err(login_error)?;
    match answer.status {
        200..=299 => Ok(answer),
        400 | 401 | 403 => Err(LoginError::InvalidCredentials(answer.describe(&[password]))),
        _ => Err(LoginError::Configuration(format!("{path} answered {}", answer.describe(&[password])))),
    }
}

/// A transport failure during a login: an unbuildable request is a
/// configuration error, anything else "unreachable, try later".
pub(crate) fn login_error(error: TransportError) -> LoginError {
    match error {
        TransportError::Request { detail } => LoginError::Configuration(detail),
        other => LoginError::Unreachable(other),
    }
}

/// A transport failure during a refresh, revocation or probe: an unbuildable
/// request is a configuration error, anything else transient.
pub(crate) fn refresh_error(error: TransportError) -> RefreshError {
    match error {
        TransportError::Request { detail } => RefreshError::Configuration { detail },
        other => RefreshError::Transient { kind: other.transient_kind(), retry_after: other.retry_after() },
    }
}

/// Reads a token pair from a 2xx body, as Django simplejwt, FastAPI and
/// OAuth-style servers write it: `access`/`access_token`,
/// `refresh`/`refresh_token`, optional `expires_in`. The access token's
/// lifetime is the server's `expires_in`, else the JWT's own `exp - iat` (a
/// span, so it holds whatever the device clock says), else unknown; either
/// is clamped to 10 years. Tokens and `expires_in` are checked as
/// [`answer`](super::answer) describes.
pub(crate) fn token_grant(server: &ServerId, body: &[u8]) -> Result<TokenGrant, AnswerError> {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else { return Err(AnswerError::NotJson) };
    let field = |name: &str, alias: &str| map.get(name).filter(|v| !v.is_null()).or_else(|| map.get(alias));
    let access = answer::access_token(field("access", "access_token"))?;
    let refresh = answer::optional_token("refresh token", field("refresh", "refresh_token"))?;
    let expires_in = match answer::expires_in(server, map.get("expires_in"))? {
        Some(secs) => Some(secs),
        None => jwt_lifetime(access.expose()).map(|secs| answer::lifetime(server, secs as f64)).transpose()?,
    };
    Ok(TokenGrant { access, refresh, id_token: None, expires_in })
}

/// A JWT's lifetime in seconds, `exp - iat`, read without verifying the
/// signature: the client only uses it to plan a refresh; the server decides.
/// Claims are whole seconds, so `exp == iat` is a lifetime under a second,
/// taken as 1 (due for a refresh at once, usable once), not unknown:
/// simplejwt dates a refreshed access token's `exp` from the moment it read
/// the refresh token, so a one-second token issued across a second boundary
/// has `exp == iat`. `exp < iat` is unknown.
pub(crate) fn jwt_lifetime(token: &str) -> Option<i64> {
    #[derive(Deserialize)]
    struct Claims {
        exp: Option<f64>,
        iat: Option<f64>,
    }
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: Claims = serde_json::from_slice(&bytes).ok()?;
    let lifetime = claims.exp? - claims.iat?;
    (lifetime.is_finite() && lifetime >= 0.0 && lifetime < i64::MAX as f64).then_some((lifetime as i64).max(1))
}

/// The server's messages in a JSON error body, as `field: message`: DRF's
/// `{"detail": …, "code": …}` and `{"field": ["…"]}`, FastAPI's
/// `{"detail": [{"loc": […], "msg": …}]}`, OAuth's `error_description`.
/// A message that holds any of `secrets`, or any non-JSON body, is left out.
fn messages(body: &[u8], secrets: &[&Secret]) -> Vec<String> {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else { return Vec::new() };
    let mut out = Vec::new();
    for (key, value) in &map {
        match value {
            Value::String(text) => out.push(format!("{key}: {text}")),
            Value::Array(items) => out.extend(items.iter().take(2).filter_map(|item| match item {
                Value::String(text) => Some(format!("{key}: {text}")),
                Value::Object(entry) => {
                    let msg = entry.get("msg").and_then(Value::as_str)?;
                    let loc = entry.get("loc").and_then(Value::as_array).map(|parts| {
                        parts
                            .iter()
                            .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_owned))
                            .collect::<Vec<_>>()
                    });
                    Some(format!("{}: {msg}", loc.map_or_else(|| key.clone(), |l| l.join("."))))
                }
                _ => None,
            })),
            _ => {}
        }
    }
    out.retain(|m| !secrets.iter().any(|s| !s.is_empty() && m.contains(s.expose())));
    out.truncate(MAX_MESSAGES);
    for message in &mut out {
        if let Some((cut, _)) = message.char_indices().nth(MAX_MESSAGE) {
            message.truncate(cut);
            message.push('…');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        format!("eyJhbGciOiJIUzI1NiJ9.{}.c2ln", URL_SAFE_NO_PAD.encode(claims))
    }

    #[test]
    fn lifetime_is_the_span_between_iat_and_exp() {
        assert_eq!(jwt_lifetime(&jwt(r#"{"exp": 1700000300, "iat": 1700000000}"#)), Some(300));
        assert_eq!(jwt_lifetime(&jwt(r#"{"exp": 1700000300}"#)), None);
        assert_eq!(jwt_lifetime(&jwt(r#"{"exp": 1, "iat": 5}"#)), None);
        assert_eq!(jwt_lifetime(&jwt(r#"{"exp": 5, "iat": 5}"#)), Some(1), "issued across a second boundary");
        assert_eq!(jwt_lifetime("opaque-token"), None);
        assert_eq!(jwt_lifetime("a.!!!.c"), None);
    }

    fn grant(body: &str) -> Result<TokenGrant, AnswerError> {
        token_grant(&ServerId::parse("https://api.example").expect("server"), body.as_bytes())
    }

    #[test]
    fn token_answers_in_every_common_spelling() {
        let simplejwt = grant(r#"{"access": "a", "refresh": "r"}"#).unwrap();
        assert_eq!((simplejwt.access.expose(), simplejwt.refresh.unwrap().expose()), ("a", "r"));
        let oauth = grant(r#"{"access_token": "a", "expires_in": 60, "token_type": "bearer"}"#).unwrap();
        assert_eq!((oauth.expires_in, oauth.refresh), (Some(60), None));
        let dated = grant(&format!(r#"{{"access": "{}"}}"#, jwt(r#"{"exp": 90, "iat": 30}"#)));
        assert_eq!(dated.unwrap().expires_in, Some(60));
        assert_eq!(grant("{}").unwrap_err(), AnswerError::NoAccessToken);
        assert_eq!(grant(r#"{"access": ""}"#).unwrap_err(), AnswerError::NoAccessToken);
        assert_eq!(grant("<html>").unwrap_err(), AnswerError::NotJson);
        assert_eq!(grant(r#"{"access": 5}"#).unwrap_err(), AnswerError::NotAString("access token"));
    }

    #[test]
    fn odd_lifetimes_get_accurate_answers() {
        assert_eq!(grant(r#"{"access": "a", "expires_in": "3600"}"#).unwrap().expires_in, Some(3600));
        assert_eq!(grant(r#"{"access": "a", "expires_in": 3600.4}"#).unwrap().expires_in, Some(3600));
        for huge in ["1e30", "9223372036854775808", "18446744073709551615"] {
            let body = format!(r#"{{"access": "a", "expires_in": {huge}}}"#);
            assert_eq!(grant(&body).unwrap().expires_in, Some(answer::MAX_EXPIRES_IN), "{huge}");
        }
        let forever = jwt(r#"{"exp": 9e15, "iat": 0}"#);
        assert_eq!(grant(&format!(r#"{{"access": "{forever}"}}"#)).unwrap().expires_in, Some(answer::MAX_EXPIRES_IN));
        for bad in [r#""-5""#, "-5", r#""an hour""#, "true"] {
            let body = format!(r#"{{"access": "a", "expires_in": {bad}}}"#);
            let error = grant(&body).expect_err(bad);
            assert!(matches!(error, AnswerError::ExpiresIn(_)), "{bad}: {error}");
            assert!(error.to_string().starts_with("the server's answer is invalid: expires_in"), "{error}");
        }
    }

    #[test]
    fn tokens_with_control_characters_are_refused_unquoted() {
        let cases = [
            (r#"{"access": "a\r\nX-Evil: 1"}"#, "access token"),
            (r#"{"access": "a b"}"#, "access token"),
            (r#"{"access_token": "a\u0000"}"#, "access token"),
            (r#"{"access": "a", "refresh": "r\n"}"#, "refresh token"),
            (r#"{"access": "a", "refresh_token": "r\u00e9"}"#, "refresh token"),
        ];
        for (body, which) in cases {
            let error = grant(body).expect_err(body);
            assert_eq!(error, AnswerError::TokenCharacters(which), "{body}");
            assert!(!error.to_string().contains("X-Evil"), "{error}");
        }
    }

    #[test]
    fn server_messages_are_summarised_without_secrets() {
        let refresh = Secret::new("eyJrefresh");
        let answer = |body: &str| Answer { status: 400, body: body.as_bytes().to_vec() };
        assert_eq!(
            answer(r#"{"refresh": ["This field is required."]}"#).describe(&[]),
            "400 (refresh: This field is required.)"
        );
        let fastapi = r#"{"detail": [{"loc": ["query", "refresh_token"], "msg": "field required", "type": "value_error.missing"}]}"#;
        assert_eq!(answer(fastapi).describe(&[]), "400 (query.refresh_token: field required)");
        let echo = r#"{"detail": [{"loc": ["body"], "msg": "bad eyJrefresh"}], "code": "nope"}"#;
        assert_eq!(answer(echo).describe(&[&refresh]), "400 (code: nope)");
        assert_eq!(answer("<html>eyJrefresh</html>").describe(&[&refresh]), "400");
        let long = format!(r#"{{"detail": "{}"}}"#, "x".repeat(1000));
        assert!(answer(&long).describe(&[]).chars().count() < MAX_MESSAGE + 20);
        assert_eq!(answer(r#"{"error": "invalid_grant"}"#).oauth_error().as_deref(), Some("invalid_grant"));
    }
}
