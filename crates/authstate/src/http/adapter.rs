//! `oauth2`/`openidconnect` over the crate's one reqwest: the
//! [`AsyncHttpClient`](oauth2::AsyncHttpClient) adapter, and the
//! classification of transport failures.
//!
//! The adapter answers 5xx and 429 itself, as [`TransportError::Status`] with
//! any `Retry-After`, so those reach the backends as transient failures with
//! their status intact instead of as an unparseable OAuth error body.

use std::future::Future;
use std::pin::Pin;

use time::Duration;

use crate::refresh::TransientKind;

/// Why an HTTP exchange did not produce a usable answer. Never carries a
/// request or response body (either may hold a token).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The connection failed (refused, reset, DNS, TLS).
    #[error("network error: {detail}")]
    Network {
        /// What failed, without secrets.
        detail: String,
    },
    /// The request took longer than the configured timeout.
    #[error("request timed out")]
    Timeout,
    /// The server answered 5xx or 429.
    #[error("server answered {status}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The `Retry-After` delay, when the server sent one in seconds.
        retry_after: Option<Duration>,
    },
    /// The body could not be read in full (truncated, connection dropped).
    #[error("response body unreadable: {detail}")]
    Body {
        /// What failed.
        detail: String,
    },
    /// The request could not be built (a caller or configuration bug).
    #[error("cannot build the request: {detail}")]
    Request {
        /// What failed.
        detail: String,
    },
}

impl TransportError {
    /// The transient kind a refresh reports for this failure.
    pub fn transient_kind(&self) -> TransientKind {
        match self {
            Self::Timeout => TransientKind::Timeout,
            Self::Status { status: 429, .. } => TransientKind::RateLimited,
            Self::Status { .. } => TransientKind::ServerError,
            Self::Body { .. } => TransientKind::MalformedResponse,
            Self::Network { .. } | Self::Request { .. } => TransientKind::Network,
        }
    }

    /// The server's `Retry-After`, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Classifies a reqwest error (its URL is dropped: it may carry a code or state).
    pub fn from_reqwest(error: reqwest::Error) -> Self {
        if error.is_timeout() {
            Self::Timeout
        } else if error.is_body() || error.is_decode() {
            Self::Body { detail: describe(error) }
        } else if error.is_builder() {
            Self::Request { detail: describe(error) }
        } else {
            Self::Network { detail: describe(error) }
        }
    }
}

/// A reqwest error's message and causes, without its URL.
fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Reads `Retry-After` given in seconds (HTTP dates are ignored: device clocks lie).
pub(crate) fn retry_after_from(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
    let seconds: u32 = value.trim().parse().ok()?;
    Some(Duration::seconds(i64::from(seconds)))
}

/// `oauth2`'s HTTP client trait, implemented over a shared reqwest client.
#[derive(Debug, Clone)]
pub struct OAuthHttp {
    client: reqwest::Client,
}

impl OAuthHttp {
    /// Sends OAuth requests through `client`.
    pub fn new(client: reqwest::Client) -> Self {
        Self { client }
    }

    /// Performs one exchange; 5xx and 429 come back as [`TransportError::Status`].
    pub async fn execute(&self, request: oauth2::HttpRequest) -> Result<oauth2::HttpResponse, TransportError> {
        let (parts, body) = request.into_parts();
        let url = parts.uri.to_string();
        let response = self
            .client
            .request(parts.method, url)
            .headers(parts.headers)
            .body(body)
            .send()
            .await
            .map_err(TransportError::from_reqwest)?;
        let status = response.status();
        if status.is_server_error() || status == http::StatusCode::TOO_MANY_REQUESTS {
            return Err(TransportError::Status {
                status: status.as_u16(),
                retry_after: retry_after_from(response.headers()),
            });
        }
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(TransportError::from_reqwest)?;
        let mut answer = http::Response::builder().status(status);
        if let Some(map) = answer.headers_mut() {
            *map = headers;
        }
        answer.body(body.to_vec()).map_err(|e| TransportError::Body { detail: e.to_string() })
    }
}

impl<'c> oauth2::AsyncHttpClient<'c> for OAuthHttp {
    type Error = TransportError;
    type Future = Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, TransportError>> + Send + 'c>>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(self.execute(request))
    }
}
