//! Signing in and out across the FFI. The host opens the returned URL in the
//! system browser (ASWebAuthenticationSession, Custom Tabs, url_launcher) and
//! hands the callback URL back.

use crate::manager::ServerManager;
use crate::records::{LoginResult, RevocationOutcome};
use crate::{AuthError, runtime};

#[uniffi::export]
impl ServerManager {
    /// Starts signing in to `alias`: returns the authorization URL to open.
    /// The attempt is saved first, so it survives the app being killed while
    /// the browser is open. `return_to` must be a relative path.
    #[uniffi::method(default(return_to = None))]
    pub async fn begin_login(&self, alias: String, return_to: Option<String>) -> Result<String, AuthError> {
        let auth = self.auth.clone();
        runtime::run(async move { Ok(auth.begin_login(&alias, return_to.as_deref()).await?.to_string()) }).await
    }

    /// Finishes signing in with the URL the browser was redirected to. The
    /// server becomes `Active`; go to `return_to`. `Cancelled` means the user
    /// declined or closed the consent (`access_denied`): not a failure, keep
    /// the sign-in button. `SignInFailed` means start again; the session did
    /// not change.
    pub async fn complete_login(&self, callback_url: String) -> Result<LoginResult, AuthError> {
        let auth = self.auth.clone();
        runtime::run(async move { Ok(auth.complete_login(&callback_url).await?.into()) }).await
    }

    /// Abandons a login the user will not finish (a dismissed
    /// ASWebAuthenticationSession, a Custom Tab closed with back): its
    /// pending state is deleted, so its callback can never complete.
    /// `login` is the URL `begin_login` returned, or its `state` value.
    /// Returns whether a login was pending; twice is not an error.
    pub fn abandon_login(&self, login: String) -> Result<bool, AuthError> {
        Ok(self.auth.abandon_login(&login)?)
    }

    /// Signs out of `alias`: at once on this device, then revokes the tokens
    /// at the server, best effort.
    pub async fn sign_out(&self, alias: String) -> Result<RevocationOutcome, AuthError> {
        let auth = self.auth.clone();
        runtime::run(async move { Ok(auth.sign_out(&alias).await?.revocation.into()) }).await
    }
}
