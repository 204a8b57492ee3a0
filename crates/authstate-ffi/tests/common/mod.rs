//! Helpers shared by the FFI crate's integration tests.

use authstate_ffi::{AuthError, ServerManager};

/// Adds the OIDC server `https://<alias>.example` as `alias` (no network:
/// discovery waits for the first sign-in).
pub fn add(manager: &ServerManager, alias: &str) -> Result<(), AuthError> {
    manager
        .add_oidc_server(
            format!("https://{alias}.example"),
            "https://idp.example".into(),
            "app".into(),
            "app:/cb".into(),
            Some(alias.into()),
            vec![],
        )
        .map(|_| ())
}
