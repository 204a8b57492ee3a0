//! The per-server driver: applies events to the pure machine, persists,
//! publishes, bumps the connection revision, notifies, and cancels.
//!
//! Guarantees (DESIGN.md): 4 (refresh is single-flight and detached from its
//! callers), 5 (results of an older generation are discarded), 6 (new tokens
//! are persisted before the state is published), 8 (tokens within the
//! threshold are refreshed before use), 9 (revision bumped after persisting),
//! 11 (leaving `Active` cancels registered work). Readers ([`ServerSession::state`],
//! the token fast path) take a read lock held only for an `Arc` clone; writers
//! serialise on a commit lock that readers never take.

mod persist;
mod probe;
mod sign_out;
mod tokens;

use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use time::{Duration, OffsetDateTime};

use crate::cancel::{CancelReason, CancelRegistry, CancelToken, Registration};
use crate::clock::SharedClock;
use crate::machine::{Event, InvalidTransition, Snapshot, Verdict, transition};
use crate::model::{
    DeviceSummary, ExpiryReason, ProviderKind, Secret, ServerInfo, SessionState, StateKind, TokenGrant, Tokens,
};
use crate::refresh::{Backoff, BackoffPolicy, RefreshError, Refresher, SingleFlight, TransientKind};
use crate::revision::RevisionHub;
use crate::storage::{KeyValueStore, SecretStore, StorageError};

pub(crate) use persist::{Restored, restore_state, write_device, write_record};
pub use sign_out::{RevocationOutcome, SignOutReport};

/// Default proactive refresh threshold: tokens expiring within 300 s are refreshed before use.
pub const DEFAULT_REFRESH_THRESHOLD: Duration = Duration::seconds(300);

/// Tuning shared by every session of a manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// Refresh tokens that expire within this much time before using them.
    pub refresh_threshold: Duration,
    /// Backoff after transient refresh failures.
    pub backoff: BackoffPolicy,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self { refresh_threshold: DEFAULT_REFRESH_THRESHOLD, backoff: BackoffPolicy::default() }
    }
}

/// What went wrong with a session call, by what the caller should do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// There is no session: sign in.
    #[error("not signed in")]
    SignedOut,
    /// The session expired: sign in again (tokens are kept until then).
    #[error("session expired ({reason:?}): sign in again")]
    SignInRequired {
        /// Why it expired.
        reason: ExpiryReason,
    },
    /// A transient failure: nothing changed; try again after `retry_after` if given.
    #[error("temporarily unavailable ({kind}); try again later")]
    TryLater {
        /// What failed.
        kind: TransientKind,
        /// How long to wait, when known.
        retry_after: Option<Duration>,
    },
    /// The caller's work was cancelled.
    #[error("cancelled: {0}")]
    Cancelled(CancelReason),
    /// The change was applied in memory but could not be saved; it is saved
    /// again with the next change. Retry an explicit action (logout) later.
    #[error("session storage failed: {0}")]
    Storage(#[from] StorageError),
    /// The refresh endpoint answered in a way that shows a misconfiguration.
    #[error("refresh endpoint misconfigured: {0}")]
    Configuration(String),
    /// The event is not valid in the current state (a caller bug).
    #[error(transparent)]
    InvalidTransition(#[from] InvalidTransition),
    /// The server was removed from the manager.
    #[error("server was removed")]
    ServerRemoved,
    /// An internal failure (no async runtime, a task that died). Report it.
    #[error("internal error: {0}")]
    Internal(String),
}

pub(crate) struct Stores {
    pub(crate) secrets: Arc<dyn SecretStore>,
    pub(crate) kv: Arc<dyn KeyValueStore>,
}

/// The token fast path, precomputed on every change: the access token of an
/// `Active` session and the instant (Unix nanoseconds) from which it must be
/// refreshed before use ([`Tokens::refresh_due_at`]).
#[derive(Clone, Default)]
struct FastToken {
    access: Option<Secret>,
    use_until_unix_nanos: i128,
}

impl FastToken {
    fn of(state: &SessionState, threshold: Duration) -> Self {
        match state {
            SessionState::Active { tokens, .. } => Self {
                access: Some(tokens.access.clone()),
                use_until_unix_nanos: tokens
                    .refresh_due_at(threshold)
                    .map_or(i128::MAX, OffsetDateTime::unix_timestamp_nanos),
            },
            _ => Self::default(),
        }
    }
}

/// Writer-side state, guarded by the commit lock.
struct Commit {
    /// The server was removed: no more events.
    removed: bool,
    /// Serial of the tokens in the secret store.
    token_serial: u64,
}

#[derive(Default)]
struct RefreshMemo {
    backoff: Backoff,
    /// The generation whose refresh token the server rejected: never presented again.
    rejected_generation: Option<u64>,
    /// What the last transient failure was, reported while its backoff holds.
    last_transient: Option<TransientKind>,
}

type FlightResult = Result<(), SessionError>;

/// One server's session. Cheap to read from any thread; share it as `Arc`.
pub struct ServerSession {
    info: ServerInfo,
    snapshot: RwLock<Arc<Snapshot>>,
    fast: RwLock<FastToken>,
    commit: Mutex<Commit>,
    stores: Stores,
    hub: Arc<RevisionHub>,
    cancels: CancelRegistry,
    /// Cancelled, and replaced, each time the session leaves `Active`.
    epoch: Mutex<CancelToken>,
    refresher: Option<Arc<dyn Refresher>>,
    flight: SingleFlight<FlightResult>,
    memo: Mutex<RefreshMemo>,
    /// What a multi-device server last said about this device's session.
    device: RwLock<Option<Arc<DeviceSummary>>>,
    clock: SharedClock,
    config: SessionConfig,
}

impl std::fmt::Debug for ServerSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerSession")
            .field("server", &self.info.id)
            .field("alias", &self.info.alias)
            .field("state", &self.state_kind())
            .finish()
    }
}

pub(crate) struct SessionParts {
    pub(crate) info: ServerInfo,
    pub(crate) initial: SessionState,
    pub(crate) token_serial: u64,
    pub(crate) stores: Stores,
    pub(crate) hub: Arc<RevisionHub>,
    pub(crate) refresher: Option<Arc<dyn Refresher>>,
    pub(crate) clock: SharedClock,
    pub(crate) config: SessionConfig,
}

impl ServerSession {
    pub(crate) fn new(parts: SessionParts) -> Self {
        let snapshot = match transition(&Snapshot::initial(), Event::Restore(parts.initial)) {
            Ok(step) => step.next,
            Err(_) => Snapshot::initial(), // invariant: Restore from the initial snapshot is always valid
        };
        let fast = FastToken::of(&snapshot.state, parts.config.refresh_threshold);
        let device =
            snapshot.state.tokens().and_then(|_| persist::read_device(&parts.info, &parts.stores)).map(Arc::new);
        Self {
            info: parts.info,
            snapshot: RwLock::new(Arc::new(snapshot)),
            fast: RwLock::new(fast),
            commit: Mutex::new(Commit { removed: false, token_serial: parts.token_serial }),
            stores: parts.stores,
            hub: parts.hub,
            cancels: CancelRegistry::default(),
            epoch: Mutex::new(CancelToken::new()),
            refresher: parts.refresher,
            flight: SingleFlight::default(),
            memo: Mutex::default(),
            device: RwLock::new(device),
            clock: parts.clock,
            config: parts.config,
        }
    }

    /// The server this session belongs to.
    pub fn info(&self) -> &ServerInfo {
        &self.info
    }

    /// The current state. Never blocks on I/O.
    pub fn state(&self) -> SessionState {
        self.snapshot().state.clone()
    }

    /// Reads the current state without copying its tokens (no lock is held
    /// while `read` runs). Never blocks on I/O.
    pub fn inspect<R>(&self, read: impl FnOnce(&SessionState) -> R) -> R {
        read(&self.snapshot().state)
    }

    /// The current state's case. Never blocks on I/O.
    pub fn state_kind(&self) -> StateKind {
        self.snapshot().state.kind()
    }

    /// True exactly when the state is `Active` (invariant 1).
    pub fn is_authenticated(&self) -> bool {
        self.snapshot().state.is_authenticated()
    }

    /// The token generation (bumped on every change of tokens).
    pub fn generation(&self) -> u64 {
        self.snapshot().generation
    }

    pub(crate) fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.snapshot.read())
    }

    /// Records a completed login: the session becomes `Active` with `grant`,
    /// dated by the local clock. `Err(Storage)` means it is active but not saved yet.
    pub fn sign_in(&self, provider: ProviderKind, grant: TokenGrant) -> Result<(), SessionError> {
        let tokens = Tokens::from_grant(grant, self.clock.now());
        self.memo.lock().backoff.reset();
        self.apply(Event::SignedIn { provider, tokens }).map(|_| ())
    }

    /// Signs out locally: `NoSession`, tokens deleted, in-flight work cancelled.
    /// The only call that deletes tokens. Backends revoke at the server first.
    pub fn logout(&self) -> Result<(), SessionError> {
        self.apply(Event::Logout).map(|_| ())
    }

    /// Marks an `Active` session `Expired` (tokens kept).
    pub fn mark_expired(&self, reason: ExpiryReason) -> Result<(), SessionError> {
        self.apply(Event::MarkExpired(reason)).map(|_| ())
    }

    /// Records a 403: never changes state.
    pub fn on_forbidden(&self) -> Verdict {
        self.apply(Event::Forbidden).unwrap_or(Verdict::PermissionDenied)
    }

    /// Registers in-flight work to be cancelled if the session leaves `Active`.
    pub fn register(&self, token: CancelToken) -> Registration {
        self.cancels.register(token)
    }

    /// A token cancelled, with the reason, the next time the session leaves
    /// `Active` (invariant 11). Unlike [`register`](Self::register) it needs no
    /// bookkeeping per request: every caller of one epoch shares the token.
    pub fn work_epoch(&self) -> CancelToken {
        self.epoch.lock().clone()
    }

    /// How much registered work is in flight.
    pub fn in_flight_work(&self) -> usize {
        self.cancels.len()
    }

    /// Applies one event: transition, persist, publish, bump, notify, cancel.
    pub(crate) fn apply(&self, event: Event) -> Result<Verdict, SessionError> {
        let mut commit = self.commit.lock();
        if commit.removed {
            return Err(SessionError::ServerRemoved);
        }
        let current = self.snapshot();
        let event_name = event.name();
        let step = transition(&current, event).map_err(|e| {
            tracing::warn!(server = %self.info.id, event = event_name, from = ?e.from, "event rejected by the state machine");
            SessionError::from(e)
        })?;
        if step.next == *current {
            return Ok(step.verdict);
        }
        let saved = persist::run_effects(&self.info, &self.stores, &step, &mut commit.token_serial);
        if let Err(e) = &saved {
            tracing::error!(server = %self.info.id, event = event_name, error = %e, "session change not persisted; kept in memory");
        }
        let kind = step.next.state.kind();
        let from = current.state.kind();
        let fast = FastToken::of(&step.next.state, self.config.refresh_threshold);
        *self.snapshot.write() = Arc::new(step.next);
        *self.fast.write() = fast;
        if kind == StateKind::NoSession
            && self.device.write().take().is_some()
            && let Err(e) = persist::write_device(&self.info, &self.stores, None)
        {
            tracing::warn!(server = %self.info.id, error = %e, "device summary not deleted");
        }
        self.hub.bump(&self.info.id, kind);
        if from != kind {
            tracing::info!(server = %self.info.id, ?from, to = ?kind, event = event_name, "session state changed");
        }
        drop(commit);
        for effect in &step.effects {
            if let crate::machine::Effect::Cancel(reason) = effect {
                std::mem::take(&mut *self.epoch.lock()).cancel(*reason);
                self.cancels.cancel_all(*reason);
            }
        }
        saved.map(|()| step.verdict).map_err(SessionError::from)
    }

    /// Stops accepting events: the server was removed.
    pub(crate) fn mark_removed(&self) {
        self.commit.lock().removed = true;
        std::mem::take(&mut *self.epoch.lock()).cancel(CancelReason::SignedOut);
        self.cancels.cancel_all(CancelReason::SignedOut);
    }

    pub(crate) fn stores(&self) -> &Stores {
        &self.stores
    }

    fn definitive_error(&self) -> SessionError {
        match &self.snapshot().state {
            SessionState::NoSession => SessionError::SignedOut,
            SessionState::Expired { reason, .. } => SessionError::SignInRequired { reason: *reason },
            SessionState::Active { .. } => SessionError::SignInRequired { reason: ExpiryReason::RefreshRejected },
        }
    }

    fn transient(&self, kind: TransientKind, retry_after: Option<Duration>) -> SessionError {
        SessionError::TryLater { kind, retry_after }
    }

    fn refresh_error(&self, error: &RefreshError) -> SessionError {
        match error {
            RefreshError::Transient { kind, retry_after } => self.transient(*kind, *retry_after),
            RefreshError::Configuration { detail } => SessionError::Configuration(detail.clone()),
            _ => self.definitive_error(),
        }
    }
}
