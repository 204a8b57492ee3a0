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
    /// server becomes `Active`; go to `return_to`. `SignInFailed` means start
    /// again; the session did not change.
    pub async fn complete_login(&self, callback_url: String) -> Result<LoginResult, AuthError> {
        let auth = self.auth.clone();
        runtime::run(async move { Ok(auth.complete_login(&callback_url).await?.into()) }).await
    }

    /// Signs out of `alias`: at once on this device, then revokes the tokens
    /// at the server, best effort.
    pub async fn sign_out(&self, alias: String) -> Result<RevocationOutcome, AuthError> {
        let auth = self.auth.clone();
        runtime::run(async move { Ok(auth.sign_out(&alias).await?.revocation.into()) }).await
    }
}
