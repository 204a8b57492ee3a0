//! The UniFFI face of authstate: thin wrappers over the core crate, which
//! knows nothing of UniFFI. Every entry point returns a typed [`AuthError`]
//! on bad input; none panics. Async methods run on the core's own tokio
//! runtime ([`runtime`]), so any host executor can await them.
//!
//! First slice of issue #4: the manager (servers, state, revision,
//! observation, guards), return-path validation, the flat error enum. The
//! session objects, stores as callback interfaces, drafts, pre-auth and the
//! OIDC login arrive next.

uniffi::setup_scaffolding!();

mod error;
mod manager;
mod records;
mod runtime;

pub use error::AuthError;
pub use manager::ServerManager;
pub use records::{GuardDecision, ServerInfo, SessionState};

/// The safe form of a return path (`/rooms/42?tab=1`), or `InvalidInput` when
/// it could become an open redirect (absolute URLs, `//host`, backslashes,
/// schemes, control characters, encoded slashes).
#[uniffi::export]
pub fn validate_return_to(path: String) -> Result<String, AuthError> {
    authstate::ReturnTo::parse(&path).map(|r| r.as_str().to_owned()).map_err(AuthError::from)
}

/// Does nothing: the baseline for measuring the FFI's own cost.
#[uniffi::export]
pub fn noop() {}
