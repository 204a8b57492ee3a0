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

use crate::http::{TransportError, retry_after_from};
use crate::login::LoginError;
use crate::model::{Secret, ServerInfo, TokenGrant};
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

/// `path` below the server's base URL. Paths were validated as relative when
/// the server was added; a failure here means a stored entry was tampered with.
pub(crate) fn endpoint(server: &ServerInfo, path: &str) -> Result<Url, TransportError> {
    server
        .id
        .url()
        .and_then(|base| base.join(path).map_err(|e| crate::model::ServerInputError::Unparsable(e.to_string())))
        .map_err(|e| TransportError::Request { detail: format!("endpoint {path:?}: {e}") })
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

/// A token answer as Django simplejwt, FastAPI and OAuth-style servers write
/// it: `access`/`access_token`, `refresh`/`refresh_token`, optional `expires_in`.
#[derive(Deserialize)]
struct TokenBody {
    #[serde(alias = "access_token")]
    access: Option<String>,
    #[serde(alias = "refresh_token")]
    refresh: Option<String>,
    expires_in: Option<i64>,
}

/// Reads a token pair from a 2xx body. The access token's lifetime is the
/// server's `expires_in`, else the JWT's own `exp - iat` (a span, so it holds
/// whatever the device clock says), else unknown. `None` if there is no
/// non-empty access token.
pub(crate) fn token_grant(body: &[u8]) -> Option<TokenGrant> {
    let parsed: TokenBody = serde_json::from_slice(body).ok()?;
    let access = parsed.access.filter(|a| !a.is_empty())?;
    let expires_in = parsed.expires_in.or_else(|| jwt_lifetime(&access));
    Some(TokenGrant {
        access: Secret::new(access),
        refresh: parsed.refresh.filter(|r| !r.is_empty()).map(Secret::new),
        id_token: None,
        expires_in,
    })
}

/// A JWT's lifetime in seconds, `exp - iat`, read without verifying the
/// signature: the client only uses it to plan a refresh; the server decides.
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
    (lifetime.is_finite() && lifetime > 0.0 && lifetime < i64::MAX as f64).then_some(lifetime as i64)
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
        assert_eq!(jwt_lifetime("opaque-token"), None);
        assert_eq!(jwt_lifetime("a.!!!.c"), None);
    }

    #[test]
    fn token_answers_in_every_common_spelling() {
        let simplejwt = token_grant(br#"{"access": "a", "refresh": "r"}"#).unwrap();
        assert_eq!((simplejwt.access.expose(), simplejwt.refresh.unwrap().expose()), ("a", "r"));
        let oauth = token_grant(br#"{"access_token": "a", "expires_in": 60, "token_type": "bearer"}"#).unwrap();
        assert_eq!((oauth.expires_in, oauth.refresh), (Some(60), None));
        let dated = token_grant(format!(r#"{{"access": "{}"}}"#, jwt(r#"{"exp": 90, "iat": 30}"#)).as_bytes());
        assert_eq!(dated.unwrap().expires_in, Some(60));
        for bad in [&b"{}"[..], br#"{"access": ""}"#, b"<html>", br#"{"access": 5}"#] {
            assert!(token_grant(bad).is_none(), "{}", String::from_utf8_lossy(bad));
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
