//! The UniFFI face of authstate: thin wrappers over the core crate, which
//! knows nothing of UniFFI. Every entry point returns a typed [`AuthError`]
//! on bad input; none panics. Async methods run on the core's own tokio
//! runtime ([`runtime`]), so any host executor can await them.
//!
//! Objects: [`ServerManager`] (servers, state, observation, guards, sign-in,
//! device sessions),
//! [`ServerSession`], [`DraftStore`], [`PreAuthState`], [`CancelToken`],
//! [`ManualClock`]. Optional host callbacks: [`SecretStore`],
//! [`KeyValueStore`], [`LogSink`]. What opening the stores found:
//! [`RestoreReport`].

uniffi::setup_scaffolding!();

mod account;
mod cancel;
mod clock;
mod drafts;
mod error;
mod logging;
mod login;
mod manager;
mod observe;
mod preauth;
mod providers;
mod records;
mod report;
mod runtime;
mod session;
mod stores;

pub use account::{DeviceSession, DeviceSummary};
pub use cancel::CancelToken;
pub use clock::ManualClock;
pub use drafts::DraftStore;
pub use error::AuthError;
pub use logging::{
    FAILURES_BEFORE_DISABLING, LogLevel, LogRecord, LogSink, clear_log_sink, log_sink_failures, set_log_sink,
};
pub use manager::{ManagerOptions, ServerManager};
pub use observe::{RevisionWatch, StateWatch};
pub use preauth::PreAuthState;
pub use providers::{OpaqueTokenSettings, RefreshShape, TokenPairSettings, device_token_settings, simplejwt_settings};
pub use records::{
    ExpiryReason, FailureReason, GuardDecision, LoginResult, ProbeResult, ProviderKind, ResponseVerdict,
    RevocationOutcome, ServerInfo, SessionState, StateObservation, TokenInfo,
};
pub use report::{RejectedRecord, RestoreReport, StoreNotice};
pub use session::ServerSession;
pub use stores::{KeyValueStore, SecretStore, StoreError};

/// The safe form of a return path (`/rooms/42?tab=1`), or `InvalidInput` when
/// it could become an open redirect (absolute URLs, `//host`, backslashes,
/// schemes, control, whitespace or invisible characters in the path, encoded
/// slashes, `%u` and overlong escapes, and anything Unicode normalisation or
/// decoding turns into one of these).
#[uniffi::export]
pub fn validate_return_to(path: String) -> Result<String, AuthError> {
    authstate::ReturnTo::parse(&path).map(|r| r.as_str().to_owned()).map_err(AuthError::from)
}

/// Does nothing: the baseline for measuring the FFI's own cost of a
/// synchronous call.
#[uniffi::export]
pub fn noop() {}

/// Does nothing, asynchronously: the baseline for an async call.
#[uniffi::export]
pub async fn noop_async() {}
