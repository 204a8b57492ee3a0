//! The response funnel for hosts with their own HTTP stack (URLSession,
//! OkHttp, dio): they report each response's status, its `WWW-Authenticate`
//! header and the token they sent, and get back what to do.
//!
//! Guarantees: a 403 (or a 401 whose challenge says `insufficient_scope`)
//! never changes state; a 401 for a token older than the current one retries
//! with the current token without a refresh (invariant 6); a 401 for the
//! current token refreshes once, single-flight with every other caller.

use std::sync::Arc;

use time::Duration;

use crate::model::{ExpiryReason, Secret};
use crate::refresh::TransientKind;
use crate::session::{ServerSession, SessionError};

/// What the host should do with a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseVerdict {
    /// Not an authentication failure: hand the response to the caller as is.
    Pass,
    /// Send the request once more with this token. If that retry is answered
    /// 401 again, give up on the request: do not ask again.
    RetryWith(Secret),
    /// The server refused this action for this user. Show it inline; the
    /// session is untouched and signing in again would not help.
    PermissionDenied,
    /// The session expired (tokens are kept): offer "sign in again" for this server.
    SessionExpired {
        /// Why it expired.
        reason: ExpiryReason,
    },
    /// There is no session for this server: sign in.
    SignedOut,
    /// The refresh failed transiently: treat the request as a network failure
    /// and retry later. Nothing changed.
    TryLater {
        /// What failed.
        kind: TransientKind,
        /// How long to wait, when known.
        retry_after: Option<Duration>,
    },
    /// Something else failed (storage, configuration, a removed server); the
    /// request cannot be retried now.
    Failed(SessionError),
}

impl ResponseVerdict {
    pub(crate) fn from_session_error(error: SessionError) -> Self {
        match error {
            SessionError::SignedOut => Self::SignedOut,
            SessionError::SignInRequired { reason } => Self::SessionExpired { reason },
            SessionError::TryLater { kind, retry_after } => Self::TryLater { kind, retry_after },
            SessionError::Cancelled(_) => Self::TryLater { kind: TransientKind::Cancelled, retry_after: None },
            other => Self::Failed(other),
        }
    }
}

/// The first challenge of a `WWW-Authenticate` header (RFC 9110 §11.6.1,
/// RFC 6750 §3), enough to tell an expired token from a missing scope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Challenge {
    /// The auth scheme (`Bearer`, `Token`, …), as sent.
    pub scheme: String,
    /// The `error` parameter (`invalid_token`, `insufficient_scope`, …).
    pub error: Option<String>,
    /// The `realm` parameter.
    pub realm: Option<String>,
}

impl Challenge {
    /// Parses the first challenge; unknown parameters are skipped. Never fails:
    /// an unreadable header gives an empty challenge.
    pub fn parse(header: &str) -> Self {
        let header = header.trim();
        let (scheme, mut rest) = header.split_once(char::is_whitespace).unwrap_or((header, ""));
        let mut challenge = Self { scheme: scheme.trim_end_matches(',').to_owned(), ..Self::default() };
        while let Some((name, after)) = rest.split_once('=') {
            let name = name.trim().trim_start_matches(',').trim().to_ascii_lowercase();
            let after = after.trim_start();
            let (value, remainder) = match after.strip_prefix('"') {
                Some(quoted) => read_quoted(quoted),
                None => {
                    let end = after.find(',').unwrap_or(after.len());
                    (after[..end].trim().to_owned(), &after[end..])
                }
            };
            match name.as_str() {
                "error" => challenge.error = Some(value),
                "realm" => challenge.realm = Some(value),
                _ => {}
            }
            rest = remainder.trim_start().trim_start_matches(',');
        }
        challenge
    }

    /// Whether the challenge says the token lacks a scope (a permission
    /// problem, not an authentication one).
    pub fn is_insufficient_scope(&self) -> bool {
        self.error.as_deref() == Some("insufficient_scope")
    }
}

/// Reads a quoted-string body (after the opening quote); returns the value and what follows.
fn read_quoted(input: &str) -> (String, &str) {
    let mut value = String::new();
    let mut chars = input.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '\\' => {
                if let Some((_, escaped)) = chars.next() {
                    value.push(escaped);
                }
            }
            '"' => return (value, &input[at + 1..]),
            other => value.push(other),
        }
    }
    (value, "")
}

impl ServerSession {
    /// Reports a response to a request that carried `token_used`, and says
    /// what to do next. 401 refreshes (once, shared with every concurrent
    /// caller) unless a newer token already exists; 403 is a permission
    /// problem and changes nothing; anything else passes.
    pub async fn on_response(
        self: &Arc<Self>,
        status: u16,
        www_authenticate: Option<&str>,
        token_used: &str,
    ) -> ResponseVerdict {
        match status {
            401 => {
                let challenge = www_authenticate.map(Challenge::parse).unwrap_or_default();
                if challenge.is_insufficient_scope() {
                    self.on_forbidden();
                    return ResponseVerdict::PermissionDenied;
                }
                tracing::debug!(server = %self.info().id, error = ?challenge.error, "resource answered 401");
                match self.recover_from_401(token_used).await {
                    Ok(token) => ResponseVerdict::RetryWith(token),
                    Err(error) => ResponseVerdict::from_session_error(error),
                }
            }
            403 => {
                self.on_forbidden();
                ResponseVerdict::PermissionDenied
            }
            _ => ResponseVerdict::Pass,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Challenge;

    #[test]
    fn reads_the_error_of_a_bearer_challenge() {
        let c = Challenge::parse(
            r#"Bearer realm="http://127.0.0.1:4000", error="invalid_token", error_description="invalid token provided""#,
        );
        assert_eq!(c.scheme, "Bearer");
        assert_eq!(c.error.as_deref(), Some("invalid_token"));
        assert_eq!(c.realm.as_deref(), Some("http://127.0.0.1:4000"));
        assert!(!c.is_insufficient_scope());
    }

    #[test]
    fn reads_unquoted_and_escaped_values_and_bare_schemes() {
        let c = Challenge::parse(r#"Bearer error=insufficient_scope, realm="a \"b\", c""#);
        assert!(c.is_insufficient_scope());
        assert_eq!(c.realm.as_deref(), Some(r#"a "b", c"#));
        assert_eq!(Challenge::parse("Token").scheme, "Token");
        assert_eq!(Challenge::parse("").error, None);
        assert_eq!(Challenge::parse("Bearer =\"").error, None);
    }
}
