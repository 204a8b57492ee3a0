//! authstate: one client-side authentication core for apps that talk to one or
//! more servers, shared by iOS, Android, Flutter and desktop hosts.
//!
//! The [`ServerManager`] holds servers; each has a [`ServerSession`] whose
//! state ([`SessionState`]) changes only through one pure transition function
//! ([`machine::transition`]). Sessions persist to host-provided stores
//! ([`storage`]), refresh single-flight through a backend's [`Refresher`], and
//! never lose tokens on a transient failure. See `DESIGN.md` for the invariants.

#![warn(missing_docs)]

pub mod backends;
pub mod cancel;
pub mod clock;
mod coordination;
pub mod drafts;
pub mod guard;
pub mod http;
pub mod login;
pub mod machine;
pub mod manager;
pub mod model;
mod observe;
pub mod preauth;
pub mod refresh;
pub mod revision;
pub mod session;
pub mod storage;

pub use backends::Backends;
pub use cancel::{CancelReason, CancelToken};
pub use clock::{Clock, ManualClock, SystemClock};
pub use drafts::{DraftStore, EvictedDraft};
pub use guard::{GuardDecision, RouteTemplateError, RouteTemplates};
pub use http::{AuthedClient, FailureReason, HttpFailure, ResponseVerdict};
pub use login::{AccountError, Authenticator, LoginError, LoginOutcome};
pub use machine::ProbeResult;
pub use manager::{ManagerConfig, ManagerError, RecordProblem, RejectedRecord, RestoreReport, ServerManager};
pub use model::{
    Alias, DeviceSession, DeviceSummary, ExpiryReason, Provider, ProviderKind, Secret, ServerId, ServerInfo,
    SessionState, StateKind, TokenGrant, Tokens,
};
pub use observe::{Observation, RevisionWatch, StateView, StateWatch};
pub use preauth::{PreAuthState, PreAuthStore, ReturnTo};
pub use refresh::{RefreshError, Refresher, RefresherFactory, Revocation, TransientKind};
pub use revision::{Change, SessionObserver, Subscription};
pub use session::{RevocationOutcome, ServerSession, SessionError, SignOutReport};

/// The README's example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
