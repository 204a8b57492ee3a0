//! `PreAuthState` across the FFI: what a sign-in round-trip must remember
//! (PKCE, CSRF state, the return path), created only with a safe return path.

use std::sync::Arc;

use authstate::{Clock, ReturnTo, ServerId, SystemClock};

use crate::AuthError;
use crate::records::ProviderKind;

/// The state of one sign-in attempt. The constructor refuses a return path
/// that could become an open redirect, so an instance always holds a safe one.
#[derive(uniffi::Object)]
pub struct PreAuthState {
    core: authstate::PreAuthState,
}

#[uniffi::export]
impl PreAuthState {
    /// A fresh attempt for the server at `server_url`. Throws `InvalidInput`
    /// for a bad URL or a `return_to` that is not a relative path
    /// (`https://evil.example`, `//evil.example`, a backslash after the
    /// slash, `javascript:`...).
    #[uniffi::constructor]
    pub fn new(server_url: String, provider: ProviderKind, return_to: Option<String>) -> Result<Arc<Self>, AuthError> {
        let server = ServerId::parse(&server_url)?;
        let return_to = return_to.as_deref().map(ReturnTo::parse).transpose()?;
        let core = authstate::PreAuthState::new(server, provider.into(), return_to, &SystemClock);
        Ok(Arc::new(Self { core }))
    }

    /// The normalised server URL.
    pub fn server_url(&self) -> String {
        self.core.server().as_str().to_owned()
    }

    /// The validated return path, if any.
    pub fn return_to(&self) -> Option<String> {
        self.core.safe_return_to().map(|r| r.as_str().to_owned())
    }

    /// The PKCE code challenge to send (its verifier stays inside).
    pub fn pkce_challenge(&self) -> String {
        self.core.pkce_challenge().to_owned()
    }

    /// The PKCE method (`S256`).
    pub fn pkce_challenge_method(&self) -> String {
        self.core.pkce_challenge_method().to_owned()
    }

    /// Seconds since the attempt began.
    pub fn age_secs(&self) -> i64 {
        self.core.age_at(SystemClock.now()).whole_seconds()
    }
}
