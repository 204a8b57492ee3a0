//! `ServerSession` across the FFI: one server's session. Hosts that send
//! requests with their own HTTP stack (URLSession, OkHttp, dio) take tokens
//! from here and report every response to `on_response`.

use std::sync::Arc;

use authstate::SessionError;
use authstate::model::ExpiryReason as CoreExpiry;

use crate::account::DeviceSummary;
use crate::cancel::CancelToken;
use crate::records::{ProbeResult, ResponseVerdict, ServerInfo, SessionState, TokenInfo};
use crate::{AuthError, runtime};

/// One server's session. Getters never block; async methods share one
/// refresh among all concurrent callers. Once its server is removed, every
/// fallible call fails with `UnknownServer` and `state()` is `NoSession`.
#[derive(uniffi::Object)]
pub struct ServerSession {
    core: Arc<authstate::ServerSession>,
    clock: authstate::clock::SharedClock,
}

impl ServerSession {
    async fn fresh_token(&self, cancel: Option<Arc<CancelToken>>) -> Result<String, AuthError> {
        if let Some(token) = self.valid_access_token() {
            return Ok(token);
        }
        let core = Arc::clone(&self.core);
        let token = runtime::run(async move {
            let token = core.fresh_access_token_with(cancel.as_deref().map(CancelToken::core)).await?;
            Ok(token.expose().to_owned())
        })
        .await;
        self.checked(token)
    }

    pub(crate) fn new(core: Arc<authstate::ServerSession>, clock: authstate::clock::SharedClock) -> Arc<Self> {
        Arc::new(Self { core, clock })
    }

    /// `result`, with any failure of a removed server's session named as
    /// such (whatever the core found first: signed out, removed, ...).
    fn checked<T>(&self, result: Result<T, AuthError>) -> Result<T, AuthError> {
        result.map_err(|error| match error {
            _ if self.core.is_removed() => {
                AuthError::UnknownServer { detail: format!("server {} was removed", self.core.info().alias) }
            }
            error => error,
        })
    }
}

#[uniffi::export]
impl ServerSession {
    /// The server this session belongs to.
    pub fn info(&self) -> ServerInfo {
        ServerInfo::from(self.core.info())
    }

    /// The current state. Never blocks.
    pub fn state(&self) -> SessionState {
        self.core.inspect(SessionState::of)
    }

    /// What is known about the tokens (never the tokens), when signed in.
    pub fn token_info(&self) -> Option<TokenInfo> {
        let now = self.clock.now();
        let pending = self.core.persistence_pending();
        self.core.inspect(|state| state.tokens().map(|tokens| TokenInfo::of(tokens, now, pending)))
    }

    /// Whether the session's current state (rotated tokens, a sign-in, a
    /// sign-out) is in use but not saved yet, because the stores refused it
    /// (a locked Keychain before first unlock, a full disk). It is saved at
    /// every later call and at `on_resume`, never replaced by older tokens;
    /// the connection revision moves when this changes. Never blocks.
    pub fn persistence_pending(&self) -> bool {
        self.core.persistence_pending()
    }

    /// Whether the server was removed: the session holds nothing and sends
    /// nothing any more.
    pub fn is_removed(&self) -> bool {
        self.core.is_removed()
    }

    /// Whether the session is `Active`.
    pub fn is_authenticated(&self) -> bool {
        self.core.is_authenticated()
    }

    /// The access token if it is valid and not yet due for refresh; `None`
    /// otherwise. Never blocks and never does I/O.
    pub fn valid_access_token(&self) -> Option<String> {
        self.core.valid_access_token().map(|secret| secret.expose().to_owned())
    }

    /// A usable access token, refreshing first when it is about to expire.
    /// Concurrent callers share one refresh. `SignInRequired` means offer
    /// "sign in again" for this server; `TryLater` means nothing changed.
    /// While the token is valid it returns without leaving the caller's thread.
    pub async fn fresh_access_token(&self) -> Result<String, AuthError> {
        self.fresh_token(None).await
    }

    /// Like `fresh_access_token`, giving up with `Cancelled` when `cancel`
    /// fires. A refresh already started still completes for the other callers.
    pub async fn fresh_access_token_cancellable(&self, cancel: Arc<CancelToken>) -> Result<String, AuthError> {
        self.fresh_token(Some(cancel)).await
    }

    /// Refreshes now, whatever the token's age (shared with concurrent callers).
    /// `Storage` means the new tokens are in use but not saved yet
    /// (`persistence_pending()`); they are saved at the next chance.
    pub async fn refresh(&self) -> Result<(), AuthError> {
        let core = Arc::clone(&self.core);
        self.checked(runtime::run(async move { Ok(core.refresh().await?) }).await)
    }

    /// Reports a response the host received with `token_used`. A 401 with the
    /// current token refreshes once (shared); a 403 never touches the session.
    /// Follow the verdict: `Retry` means send once more with
    /// `valid_access_token()`.
    pub async fn on_response(
        &self,
        status: u16,
        www_authenticate: Option<String>,
        token_used: String,
    ) -> ResponseVerdict {
        let core = Arc::clone(&self.core);
        let verdict = runtime::run(async move {
            Ok(ResponseVerdict::from(core.on_response(status, www_authenticate.as_deref(), &token_used).await))
        })
        .await;
        verdict.unwrap_or_else(|error| ResponseVerdict::Failed { detail: error.to_string() })
    }

    /// Marks the session expired (tokens kept, so a refresh may revive it).
    /// On a signed-out session it does nothing: a late 401 after sign-out is
    /// a normal race, not an error.
    pub fn mark_expired(&self) -> Result<(), AuthError> {
        let result = match self.core.mark_expired(CoreExpiry::Marked) {
            Ok(()) | Err(SessionError::InvalidTransition(_)) => Ok(()),
            Err(error) => Err(error.into()),
        };
        self.checked(result)
    }

    /// Signs out on this device only, without contacting the server.
    pub fn sign_out_locally(&self) -> Result<(), AuthError> {
        let result = match self.core.logout() {
            Ok(()) | Err(SessionError::InvalidTransition(_)) => Ok(()),
            Err(error) => Err(error.into()),
        };
        self.checked(result)
    }

    /// Asks the server whether it still accepts the token (OpaqueToken
    /// servers' session probe) and records the answer: `Stale` expires the
    /// session with no error; `Unreachable` changes nothing.
    pub async fn probe(&self) -> Result<ProbeResult, AuthError> {
        let core = Arc::clone(&self.core);
        self.checked(runtime::run(async move { Ok(core.probe().await?.into()) }).await)
    }

    /// What a multi-device server last said about this device's session
    /// (for a "signed in on N other devices" banner). Never blocks.
    pub fn device_summary(&self) -> Option<DeviceSummary> {
        self.core.device_summary().as_deref().map(DeviceSummary::from)
    }

    /// Does nothing: the baseline for the FFI's own cost of a method call
    /// (the generated code clones the object's handle, then calls), against
    /// which `state()` and `valid_access_token()` are measured.
    pub fn noop(&self) {}

    /// Does nothing, asynchronously: the baseline of an async method call,
    /// against which `fresh_access_token()` is measured.
    pub async fn noop_async(&self) {}

    /// Call when the app returns to the foreground: refreshes if the token
    /// expired meanwhile.
    pub async fn on_resume(&self) -> Result<(), AuthError> {
        let core = Arc::clone(&self.core);
        self.checked(runtime::run(async move { Ok(core.on_resume().await?) }).await)
    }
}
