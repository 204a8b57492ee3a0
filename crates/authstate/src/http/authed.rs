//! [`AuthedClient`]: reqwest with the session's token injected, one refresh
//! and one retry on 401, and failures mapped to a [`FailureReason`].

use std::sync::Arc;

use reqwest::header::{AUTHORIZATION, HeaderValue, WWW_AUTHENTICATE};
use time::Duration;

use super::adapter::{TransportError, retry_after_from};
use super::funnel::ResponseVerdict;
use crate::cancel::{CancelReason, CancelToken};
use crate::model::{ProviderKind, Secret};
use crate::refresh::TransientKind;
use crate::session::{ServerSession, SessionError};

/// Why a request failed, by what the app should show or do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    /// 429: slow down; see `retry_after`.
    RateLimited,
    /// 5xx. Retry later.
    ServerError,
    /// The caller cancelled, or the session left `Active` while the request ran.
    Cancelled,
    /// A bug or misconfiguration (unbuildable request, storage, unknown server).
    Internal,
}

impl From<TransientKind> for FailureReason {
    /// What a transient refresh failure means for the request that waited on it.
    fn from(kind: TransientKind) -> Self {
        match kind {
            TransientKind::Timeout => Self::Timeout,
            TransientKind::RateLimited => Self::RateLimited,
            TransientKind::ServerError | TransientKind::MalformedResponse | TransientKind::Interrupted => {
                Self::ServerError
            }
            TransientKind::Cancelled => Self::Cancelled,
            TransientKind::Network => Self::Network,
        }
    }
}

/// A failed request: the reason, the status when a response arrived, and the
/// server's `Retry-After`. Never holds a token or a body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason:?}{}: {detail}", status.map(|s| format!(" ({s})")).unwrap_or_default())]
pub struct HttpFailure {
    /// What went wrong.
    pub reason: FailureReason,
    /// The response status, if a response arrived.
    pub status: Option<u16>,
    /// How long to wait before retrying, when the server said.
    pub retry_after: Option<Duration>,
    /// A description for logs (no secrets).
    pub detail: String,
}

impl HttpFailure {
    fn new(reason: FailureReason, detail: impl Into<String>) -> Self {
        Self { reason, status: None, retry_after: None, detail: detail.into() }
    }

    fn from_status(status: u16, headers: &reqwest::header::HeaderMap) -> Option<Self> {
        let reason = match status {
            401 => FailureReason::AuthExpired,
            403 => FailureReason::PermissionDenied,
            404 => FailureReason::NotFound,
            429 => FailureReason::RateLimited,
            500..=599 => FailureReason::ServerError,
            _ => return None,
        };
        Some(Self {
            reason,
            status: Some(status),
            retry_after: retry_after_from(headers),
            detail: format!("server answered {status}"),
        })
    }

    fn from_transport(error: TransportError) -> Self {
        let reason = match error {
            TransportError::Timeout => FailureReason::Timeout,
            TransportError::Request { .. } => FailureReason::Internal,
            _ => FailureReason::Network,
        };
        Self::new(reason, error.to_string())
    }

    fn from_session(error: SessionError) -> Self {
        let reason = match &error {
            SessionError::SignedOut | SessionError::SignInRequired { .. } => FailureReason::AuthExpired,
            SessionError::TryLater { kind, retry_after } => {
                let reason = FailureReason::from(*kind);
                return Self { reason, status: None, retry_after: *retry_after, detail: error.to_string() };
            }
            SessionError::Cancelled(reason) => cancelled_reason(*reason),
            _ => FailureReason::Internal,
        };
        Self::new(reason, error.to_string())
    }

    fn cancelled(reason: CancelReason) -> Self {
        Self::new(cancelled_reason(reason), format!("cancelled: {reason}"))
    }
}

fn cancelled_reason(reason: CancelReason) -> FailureReason {
    match reason {
        CancelReason::AuthExpired | CancelReason::SignedOut => FailureReason::AuthExpired,
        CancelReason::Caller => FailureReason::Cancelled,
    }
}

/// A reqwest client bound to one server's session.
///
/// Guarantees: every request carries the current access token (refreshed
/// first when it is about to expire); a 401 triggers one refresh (shared with
/// every concurrent caller) and one retry; a 403 never refreshes or changes
/// state; a request in flight is cancelled when the session leaves `Active`.
#[derive(Debug, Clone)]
pub struct AuthedClient {
    http: reqwest::Client,
    session: Arc<ServerSession>,
    scheme: &'static str,
}

impl AuthedClient {
    /// Sends through `http` with `session`'s tokens (`Bearer`, or `Token` for
    /// opaque-token servers).
    pub fn new(http: reqwest::Client, session: Arc<ServerSession>) -> Self {
        let scheme = match session.info().provider.kind() {
            ProviderKind::OpaqueToken => "Token",
            ProviderKind::Oidc | ProviderKind::TokenPair => "Bearer",
        };
        Self { http, session, scheme }
    }

    /// The session the tokens come from.
    pub fn session(&self) -> &Arc<ServerSession> {
        &self.session
    }

    /// Starts a request on the underlying client; send it with [`AuthedClient::send`].
    pub fn request(&self, method: reqwest::Method, url: impl reqwest::IntoUrl) -> reqwest::RequestBuilder {
        self.http.request(method, url)
    }

    /// Starts a GET request.
    pub fn get(&self, url: impl reqwest::IntoUrl) -> reqwest::RequestBuilder {
        self.http.get(url)
    }

    /// Sends `request` with the session's token. Any status other than 401,
    /// 403, 404, 429 and 5xx comes back as `Ok` for the caller to read.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, HttpFailure> {
        self.send_with(request, None).await
    }

    /// Like [`send`](Self::send), giving up with `Cancelled` when `cancel` fires.
    pub async fn send_with(
        &self,
        request: reqwest::RequestBuilder,
        cancel: Option<&CancelToken>,
    ) -> Result<reqwest::Response, HttpFailure> {
        let request = request.build().map_err(|e| HttpFailure::from_transport(TransportError::from_reqwest(e)))?;
        let epoch = self.session.work_epoch();
        let work = self.exchange(request, cancel);
        tokio::select! {
            biased;
            reason = epoch.cancelled() => Err(HttpFailure::cancelled(reason)),
            reason = caller_cancelled(cancel) => Err(HttpFailure::cancelled(reason)),
            out = work => out,
        }
    }

    async fn exchange(
        &self,
        request: reqwest::Request,
        cancel: Option<&CancelToken>,
    ) -> Result<reqwest::Response, HttpFailure> {
        let token = self.session.fresh_access_token_with(cancel).await.map_err(HttpFailure::from_session)?;
        let retry = request.try_clone();
        let response = self.attempt(request, &token).await?;
        if response.status() != reqwest::StatusCode::UNAUTHORIZED {
            return self.finish(response);
        }
        let challenge = response.headers().get(WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        match self.session.on_response(401, challenge.as_deref(), token.expose()).await {
            ResponseVerdict::RetryWith(fresh) => match retry {
                Some(again) => {
                    let response = self.attempt(again, &fresh).await?;
                    self.finish(response)
                }
                None => Err(HttpFailure {
                    status: Some(401),
                    ..HttpFailure::new(
                        FailureReason::AuthExpired,
                        "401, and the request body cannot be sent twice; the session was refreshed, send it again",
                    )
                }),
            },
            ResponseVerdict::PermissionDenied => Err(HttpFailure {
                status: Some(401),
                ..HttpFailure::new(FailureReason::PermissionDenied, "401 insufficient_scope")
            }),
            ResponseVerdict::TryLater { kind, retry_after } => {
                Err(HttpFailure::from_session(SessionError::TryLater { kind, retry_after }))
            }
            ResponseVerdict::SessionExpired { reason } => {
                Err(HttpFailure::from_session(SessionError::SignInRequired { reason }))
            }
            ResponseVerdict::SignedOut => Err(HttpFailure::from_session(SessionError::SignedOut)),
            ResponseVerdict::Failed(error) => Err(HttpFailure::from_session(error)),
            ResponseVerdict::Pass => self.finish(response),
        }
    }

    async fn attempt(&self, mut request: reqwest::Request, token: &Secret) -> Result<reqwest::Response, HttpFailure> {
        let mut value = HeaderValue::try_from(format!("{} {}", self.scheme, token.expose()))
            .map_err(|_| HttpFailure::new(FailureReason::Internal, "access token is not a valid header value"))?;
        value.set_sensitive(true);
        request.headers_mut().insert(AUTHORIZATION, value);
        self.http.execute(request).await.map_err(|e| HttpFailure::from_transport(TransportError::from_reqwest(e)))
    }

    fn finish(&self, response: reqwest::Response) -> Result<reqwest::Response, HttpFailure> {
        let status = response.status().as_u16();
        if status == 403 {
            self.session.on_forbidden();
        }
        match HttpFailure::from_status(status, response.headers()) {
            Some(failure) => Err(failure),
            None => Ok(response),
        }
    }
}

async fn caller_cancelled(cancel: Option<&CancelToken>) -> CancelReason {
    match cancel {
        Some(token) => token.cancelled().await,
        None => std::future::pending().await,
    }
}
