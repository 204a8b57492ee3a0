//! Signing in and out of a server, whatever its backend: the public face of
//! the login flows over a [`ServerManager`] and its [`Backends`] — the OIDC
//! browser round-trip, credentials logins for TokenPair and OpaqueToken
//! servers, and (in `account`) the device-session calls.
//!
//! Guarantees: the pending login is persisted before the authorization URL is
//! handed out; a callback is accepted once, only for a login started here,
//! within 30 minutes, at the redirect URI that login used, from the issuer it
//! was sent to; the return path handed back has been validated twice. A
//! password is never kept, logged, or put in an error.

mod account;
mod error;

use std::sync::Arc;

use url::Url;

use crate::backends::Backends;
pub use error::{AccountError, LoginError};

use crate::backends::oidc::Callback;
use crate::manager::ServerManager;
use crate::model::{DeviceSummary, Provider, ProviderKind, Secret, ServerInfo, TokenGrant};
use crate::preauth::{PreAuthError, PreAuthState, ReturnTo};
use crate::refresh::RefresherFactory;
use crate::session::{ServerSession, SessionError, SignOutReport};

/// The OAuth error a provider returns when the user declines or closes the
/// consent (RFC 6749 §4.1.2.1): a cancellation, not a failure.
const USER_CANCELLED: &str = "access_denied";

/// A completed login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginOutcome {
    /// The server now signed in.
    pub server: ServerInfo,
    /// Where to send the user, validated again; `None` means the app's default route.
    pub return_to: Option<ReturnTo>,
    /// False when the tokens are active but could not be saved yet (they are
    /// saved with the next change; the error was logged).
    pub persisted: bool,
    /// What a multi-device server said about this device's session (its id,
    /// label, and how many other devices are signed in); `None` otherwise.
    pub device: Option<DeviceSummary>,
}

/// Starts and completes logins, and signs out, for a manager's servers.
#[derive(Debug, Clone)]
pub struct Authenticator {
    manager: ServerManager,
    backends: Arc<Backends>,
}

impl Authenticator {
    /// Logins for `manager`'s servers through `backends` (the same backends the
    /// manager refreshes with).
    pub fn new(manager: ServerManager, backends: Arc<Backends>) -> Self {
        Self { manager, backends }
    }

    /// The manager this signs in to.
    pub fn manager(&self) -> &ServerManager {
        &self.manager
    }

    /// Starts a browser login to the server `alias`, redirecting to its
    /// configured redirect URI. Returns the URL to open. `return_to` must be a
    /// safe relative path (see [`ReturnTo`]).
    pub async fn begin_login(&self, alias: &str, return_to: Option<&str>) -> Result<Url, LoginError> {
        self.begin(alias, return_to, None).await
    }

    /// Like [`begin_login`](Self::begin_login), redirecting to `redirect_uri`
    /// instead (a [`LoopbackReceiver`](crate::backends::oidc::LoopbackReceiver)'s URI).
    pub async fn begin_login_with_redirect(
        &self,
        alias: &str,
        return_to: Option<&str>,
        redirect_uri: &str,
    ) -> Result<Url, LoginError> {
        self.begin(alias, return_to, Some(redirect_uri)).await
    }

    async fn begin(&self, alias: &str, return_to: Option<&str>, redirect: Option<&str>) -> Result<Url, LoginError> {
        let session = self.session(alias)?;
        let info = session.info();
        let Provider::Oidc(config) = &info.provider else { return Err(LoginError::WrongProvider(alias.to_owned())) };
        let return_to =
            return_to.map(ReturnTo::parse).transpose().map_err(|e| LoginError::InvalidReturnTo(e.to_string()))?;
        let mut pending = PreAuthState::new(info.id.clone(), ProviderKind::Oidc, return_to, self.clock().as_ref());
        if let Some(redirect) = redirect {
            pending = pending.with_redirect_uri(redirect);
        }
        let url = self.backends.oidc().authorization_url(config, &pending).await?;
        self.manager.preauth().save(&pending)?;
        tracing::info!(server = %info.id, issuer = %config.issuer, "sign-in started");
        Ok(url)
    }

    /// Completes a login from the redirect the browser followed: checks the
    /// pending login (state, age, redirect target, issuer), exchanges the
    /// code, validates the ID token, and makes the session `Active`. Tokens
    /// of an earlier sign-in are then revoked, best effort.
    pub async fn complete_login(&self, callback_url: &str) -> Result<LoginOutcome, LoginError> {
        let callback = Callback::parse(callback_url)?;
        let Some(state) = callback.state.as_deref() else {
            return Err(LoginError::InvalidCallback("no state parameter".into()));
        };
        let pending = self.manager.preauth().consume(state)?;
        let session = self
            .manager
            .session_by_id(pending.server())
            .ok_or_else(|| LoginError::UnknownServer(pending.server().to_string()))?;
        let info = session.info().clone();
        let Provider::Oidc(config) = &info.provider else {
            return Err(LoginError::WrongProvider(info.alias.to_string()));
        };
        let redirect = pending.redirect_uri().unwrap_or(&config.redirect_uri);
        if !callback.arrived_at(redirect) {
            tracing::warn!(server = %info.id, "sign-in callback arrived at another redirect URI");
            return Err(LoginError::InvalidCallback("the callback is not at this login's redirect URI".into()));
        }
        if let Some(error) = callback.error {
            let description = callback.error_description;
            if error == USER_CANCELLED {
                tracing::info!(server = %info.id, "the user cancelled the sign-in");
                return Err(LoginError::Cancelled { error, description });
            }
            tracing::warn!(server = %info.id, %error, "provider ended the sign-in");
            return Err(LoginError::Denied { error, description });
        }
        if let Some(issuer) = &callback.issuer {
            let metadata = self.backends.oidc().discover(config).await?;
            if metadata.issuer().as_str() != issuer {
                tracing::warn!(server = %info.id, expected = %config.issuer, "sign-in callback from another issuer (mix-up)");
                return Err(LoginError::InvalidCallback("the callback names another issuer".into()));
            }
        }
        let Some(code) = &callback.code else {
            return Err(LoginError::InvalidCallback("no code parameter".into()));
        };
        let grant = self.backends.oidc().exchange_code(config, &pending, code).await?;
        let (persisted, _) = self.replace_tokens(&session, ProviderKind::Oidc, grant).await?;
        tracing::info!(server = %info.id, persisted, "signed in");
        Ok(LoginOutcome { server: info, return_to: pending.safe_return_to(), persisted, device: None })
    }

    /// Abandons a login the user will not finish (a dismissed browser sheet,
    /// a cancelled Custom Tab): deletes its pending state, so it can never
    /// complete. `login` is the URL [`begin_login`](Self::begin_login)
    /// returned, or its `state` value. Returns whether a login was pending;
    /// abandoning one twice, or an expired one, is not an error.
    pub fn abandon_login(&self, login: &str) -> Result<bool, LoginError> {
        let state = Url::parse(login)
            .ok()
            .and_then(|url| url.query_pairs().find(|(k, _)| k == "state").map(|(_, v)| v.into_owned()))
            .unwrap_or_else(|| login.to_owned());
        match self.manager.preauth().consume(&state) {
            Ok(pending) => {
                tracing::info!(server = %pending.server(), "sign-in abandoned");
                Ok(true)
            }
            Err(PreAuthError::Expired { .. }) => Ok(true),
            Err(PreAuthError::Unknown) => Ok(false),
            Err(other) => Err(other.into()),
        }
    }

    /// Signs in to a TokenPair or OpaqueToken server with a username and
    /// password; `device_label` names this device to an OpaqueToken server
    /// (the server guesses from the User-Agent otherwise). The password is
    /// sent once and not kept. `InvalidCredentials` means ask again (the
    /// session is untouched). Tokens of an earlier sign-in are revoked once the
    /// new ones are saved, best effort, so no stale device session lingers.
    pub async fn sign_in_with_password(
        &self,
        alias: &str,
        username: &str,
        password: &Secret,
        device_label: Option<&str>,
    ) -> Result<LoginOutcome, LoginError> {
        let session = self.session(alias)?;
        let info = session.info().clone();
        let (kind, grant, mut device) = match &info.provider {
            Provider::TokenPair(_) => {
                (ProviderKind::TokenPair, self.backends.token_pair().login(&info, username, password).await?, None)
            }
            Provider::OpaqueToken(_) => {
                let login = self.backends.opaque().login(&info, username, password, device_label).await?;
                (ProviderKind::OpaqueToken, login.grant, login.device)
            }
            Provider::Oidc(_) => return Err(LoginError::WrongProvider(alias.to_owned())),
        };
        let (persisted, retired) = self.replace_tokens(&session, kind, grant).await?;
        if let Some(summary) = &device {
            session.set_device_summary(summary.clone());
            // The server counted this device's previous session among the
            // others; it is gone now, so ask again (best effort).
            if retired && self.device_sessions(alias).await.is_ok() {
                device = session.device_summary().map(|d| (*d).clone());
            }
        }
        tracing::info!(server = %info.id, provider = kind.name(), persisted, "signed in");
        Ok(LoginOutcome { server: info, return_to: None, persisted, device })
    }

    /// Makes the session `Active` with `grant`, then revokes the tokens it
    /// held before, best effort: signing in again must not leave the old
    /// grant (or, at a multi-device server, a stale device session) alive.
    /// Returns whether the tokens reached storage, and whether old tokens were revoked.
    async fn replace_tokens(
        &self,
        session: &ServerSession,
        kind: ProviderKind,
        grant: TokenGrant,
    ) -> Result<(bool, bool), LoginError> {
        let old = session.state().tokens().cloned();
        let persisted = commit_sign_in(session, kind, grant)?;
        let info = session.info();
        let Some((old, backend)) = old.zip(self.backends.refresher_for(info)) else { return Ok((persisted, false)) };
        match backend.revoke(info, &old).await {
            Ok(_) => {
                tracing::info!(server = %info.id, "the tokens of the previous sign-in were revoked");
                Ok((persisted, true))
            }
            Err(e) => {
                tracing::warn!(server = %info.id, error = %e, "the previous sign-in's tokens were not revoked");
                Ok((persisted, false))
            }
        }
    }

    /// Signs out of `alias`: locally at once, then a best-effort revocation at
    /// the server (see [`ServerSession::sign_out`]).
    pub async fn sign_out(&self, alias: &str) -> Result<SignOutReport, LoginError> {
        Ok(self.session(alias)?.sign_out().await?)
    }

    fn session(&self, alias: &str) -> Result<Arc<ServerSession>, LoginError> {
        self.manager.session(alias).ok_or_else(|| LoginError::UnknownServer(alias.to_owned()))
    }

    fn clock(&self) -> crate::clock::SharedClock {
        self.manager.clock()
    }
}

/// Makes the session `Active` with `grant`. `Ok(false)`: active, but not saved
/// yet (saved with the next change; the error was logged).
fn commit_sign_in(session: &ServerSession, kind: ProviderKind, grant: TokenGrant) -> Result<bool, LoginError> {
    match session.sign_in(kind, grant) {
        Ok(()) => Ok(true),
        Err(SessionError::Storage(_)) => Ok(false),
        Err(other) => Err(other.into()),
    }
}
