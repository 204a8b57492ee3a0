//! The per-server driver: applies events to the pure machine, persists,
//! publishes, bumps the connection revision, notifies, and cancels.
//!
//! Guarantees (DESIGN.md): 4 (refresh is single-flight and detached from its
//! callers), 5 (results of an older generation are discarded), 6 (new tokens
//! are persisted before the state is published), 8 (tokens within the
//! threshold are refreshed before use), 9 (revision bumped after persisting),
//! 11 (leaving `Active` cancels registered work), 13 (a store that fails or
//! panics never loses the state: it stays in memory, is reported as pending
//! persistence and is saved at the next chance; a host observer or log
//! subscriber that panics cannot skip the cancellation), 14 (with a lock
//! directory, every event is applied on top of the latest stored state,
//! under the cross-process commit lock). Readers ([`ServerSession::state`],
//! the token fast path) take a read lock held only for an `Arc` clone;
//! writers serialise on a commit lock that readers never take.

mod error;
mod flight;
mod persist;
mod probe;
mod sign_out;
mod sync;
mod tokens;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};
use time::{Duration, OffsetDateTime};

use crate::cancel::{CancelReason, CancelRegistry, CancelToken, Registration};
use crate::clock::SharedClock;
use crate::coordination::{Coordination, Lease};
use crate::machine::{Effect, Event, Snapshot, Verdict, transition};
use crate::model::{
    DeviceSummary, ExpiryReason, ProviderKind, Secret, ServerInfo, SessionState, StateKind, TokenGrant, Tokens,
};
use crate::refresh::{Backoff, BackoffPolicy, RefreshError, Refresher, SingleFlight, TransientKind};
use crate::revision::RevisionHub;
use crate::storage::{KeyValueStore, SecretStore, StorageError};

use crate::storage::schema::StoredShape;
pub use error::SessionError;
pub(crate) use persist::{Restored, write_device, write_record};
pub use sign_out::{RevocationOutcome, SignOutReport};
pub(crate) use sync::restore;

/// Default proactive refresh threshold: tokens expiring within 300 s are refreshed before use.
pub const DEFAULT_REFRESH_THRESHOLD: Duration = Duration::seconds(300);

/// Default bound on waiting for another process's refresh of the same server.
pub const DEFAULT_LEASE_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Tuning shared by every session of a manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// Refresh tokens that expire within this much time before using them.
    pub refresh_threshold: Duration,
    /// Backoff after transient refresh failures.
    pub backoff: BackoffPolicy,
    /// How long a refresh waits for another process holding the server's
    /// refresh lease before giving up with `TryLater`.
    pub lease_wait: std::time::Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            refresh_threshold: DEFAULT_REFRESH_THRESHOLD,
            backoff: BackoffPolicy::default(),
            lease_wait: DEFAULT_LEASE_WAIT,
        }
    }
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

/// Writer-side state, guarded by the commit mutex.
struct Commit {
    /// The server was removed: no more events.
    removed: bool,
    /// Serial of the tokens in memory (those in the secret store unless `unsaved`).
    token_serial: u64,
    /// What the stores hold, as last read or written.
    stored: StoredShape,
    /// Memory holds a state the stores could not take yet.
    unsaved: bool,
}

/// The refresh policy's memory: backoff, and which refresh tokens must not
/// be presented again.
#[derive(Default)]
struct RefreshPolicy {
    backoff: Backoff,
    /// The generation whose refresh token the server rejected: never presented again.
    rejected_generation: Option<u64>,
    /// The generation whose refresh token an interrupted refresh had already
    /// presented: if the server rejects it, the reason is `RefreshInterrupted`.
    interrupted_generation: Option<u64>,
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
    /// The lock directory shared with other processes, if any.
    coordination: Option<Arc<Coordination>>,
    /// The change counter value this session last read the stores at.
    seen_changes: AtomicU64,
    /// Mirrors `Commit::unsaved` for lock-free readers.
    pending: AtomicBool,
    /// Mirrors `Commit::removed` for lock-free readers.
    removed: AtomicBool,
    cancels: CancelRegistry,
    /// Cancelled, and replaced, each time the session leaves `Active`.
    epoch: Mutex<CancelToken>,
    refresher: Option<Arc<dyn Refresher>>,
    flight: SingleFlight<FlightResult>,
    policy: Mutex<RefreshPolicy>,
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
            .field("persistence_pending", &self.persistence_pending())
            .finish()
    }
}

pub(crate) struct SessionParts {
    pub(crate) info: ServerInfo,
    pub(crate) restored: Restored,
    pub(crate) stores: Stores,
    pub(crate) hub: Arc<RevisionHub>,
    pub(crate) coordination: Option<Arc<Coordination>>,
    pub(crate) seen_changes: u64,
    pub(crate) refresher: Option<Arc<dyn Refresher>>,
    pub(crate) clock: SharedClock,
    pub(crate) config: SessionConfig,
}

/// What an `apply` (or a catch-up with the stores) leaves to do once its
/// locks are released: bump the revision and notify, then cancel. It runs in
/// `Drop`, so that nothing in between (a panicking log subscriber) can skip
/// the cancellation (invariant 11); while unwinding it only cancels.
struct Aftermath<'a> {
    session: &'a ServerSession,
    /// The state kind after each published change, in order.
    bumps: Vec<StateKind>,
    cancels: Vec<CancelReason>,
}

impl<'a> Aftermath<'a> {
    fn new(session: &'a ServerSession) -> Self {
        Self { session, bumps: Vec::new(), cancels: Vec::new() }
    }

    /// A change was published: the revision moves, and the machine's
    /// `Cancel` effects run.
    fn published(&mut self, kind: StateKind, effects: &[Effect]) {
        self.bumps.push(kind);
        self.cancels.extend(effects.iter().filter_map(|e| if let Effect::Cancel(r) = e { Some(*r) } else { None }));
    }
}

impl Drop for Aftermath<'_> {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            for kind in self.bumps.drain(..) {
                self.session.hub.bump(&self.session.info.id, kind);
            }
        }
        for reason in self.cancels.drain(..) {
            std::mem::take(&mut *self.session.epoch.lock()).cancel(reason);
            self.session.cancels.cancel_all(reason);
        }
    }
}

impl ServerSession {
    pub(crate) fn new(parts: SessionParts) -> Self {
        let restored = parts.restored;
        let snapshot = match transition(&Snapshot::initial(), Event::Restore(restored.state)) {
            Ok(step) => step.next,
            Err(_) => Snapshot::initial(), // invariant: Restore from the initial snapshot is always valid
        };
        let fast = FastToken::of(&snapshot.state, parts.config.refresh_threshold);
        let device =
            snapshot.state.tokens().and_then(|_| persist::read_device(&parts.info, &parts.stores)).map(Arc::new);
        let commit = Commit {
            removed: false,
            token_serial: restored.token_serial,
            stored: restored.stored,
            unsaved: restored.unsaved,
        };
        let policy = RefreshPolicy {
            interrupted_generation: restored.interrupted.then_some(snapshot.generation),
            ..RefreshPolicy::default()
        };
        Self {
            info: parts.info,
            snapshot: RwLock::new(Arc::new(snapshot)),
            fast: RwLock::new(fast),
            pending: AtomicBool::new(commit.unsaved),
            commit: Mutex::new(commit),
            stores: parts.stores,
            hub: parts.hub,
            coordination: parts.coordination,
            seen_changes: AtomicU64::new(parts.seen_changes),
            removed: AtomicBool::new(false),
            cancels: CancelRegistry::default(),
            epoch: Mutex::new(CancelToken::new()),
            refresher: parts.refresher,
            flight: SingleFlight::default(),
            policy: Mutex::new(policy),
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

    /// True while memory holds a state (rotated tokens, a sign-out) that the
    /// stores could not take yet. It is in use, and saved at every later
    /// call and at `on_resume` until it lands; the connection revision moves
    /// when this changes. Never blocks.
    pub fn persistence_pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    /// Whether the server was removed (a removed server's session holds
    /// nothing and sends nothing).
    pub fn is_removed(&self) -> bool {
        self.removed.load(Ordering::Acquire)
    }

    pub(crate) fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.snapshot.read())
    }

    /// Records a completed login: the session becomes `Active` with `grant`,
    /// dated by the local clock. `Err(Storage)` means it is active (and in
    /// use) but [not saved yet](Self::persistence_pending).
    pub fn sign_in(&self, provider: ProviderKind, grant: TokenGrant) -> Result<(), SessionError> {
        let tokens = Tokens::from_grant(grant, self.clock.now());
        {
            let mut policy = self.policy.lock();
            policy.backoff.reset();
            policy.interrupted_generation = None;
        }
        self.apply(Event::SignedIn { provider, tokens }).map(|_| ())
    }

    /// Signs out locally: `NoSession`, tokens deleted, in-flight work cancelled.
    /// The only call that deletes tokens. Backends revoke at the server first.
    /// Signing out a signed-out session does nothing.
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
        self.apply_in(event, None)
    }

    /// [`apply`](Self::apply), with the refresh lease held by the caller (the
    /// journal can then keep what the stores could not take).
    pub(crate) fn apply_in(&self, event: Event, lease: Option<&Lease>) -> Result<Verdict, SessionError> {
        // Declared first, dropped last: after the locks are released.
        let mut after = Aftermath::new(self);
        let mut commit = self.commit.lock();
        if commit.removed {
            return Err(SessionError::ServerRemoved);
        }
        let cross = self.cross_lock()?;
        // Apply on top of what the stores hold now, and save what was pending.
        self.sync_locked(&mut commit, &mut after);
        self.flush_locked(&mut commit, lease, &mut after);
        let current = self.snapshot();
        let event_name = event.name();
        let step = match transition(&current, event) {
            Ok(step) => step,
            Err(e) => {
                drop((cross, commit));
                tracing::warn!(server = %self.info.id, event = event_name, from = ?e.from, "event rejected by the state machine");
                return Err(e.into());
            }
        };
        if step.next == *current {
            return Ok(step.verdict);
        }
        let saved = self.persist_locked(&mut commit, &step, lease);
        let (from, kind) = (current.state.kind(), step.next.state.kind());
        after.published(kind, &step.effects);
        self.publish(&mut commit, step.next);
        drop((cross, commit));
        if kind == StateKind::NoSession {
            self.forget_device();
        }
        if let Err(e) = &saved {
            tracing::error!(server = %self.info.id, event = event_name, error = %e, "session change not persisted; kept in memory and retried");
        }
        if from != kind {
            tracing::info!(server = %self.info.id, ?from, to = ?kind, event = event_name, "session state changed");
        }
        saved.map(|()| step.verdict).map_err(SessionError::from)
    }

    /// Takes the cross-process commit lock, when the stores are shared.
    fn cross_lock(&self) -> Result<Option<crate::storage::flock::Held>, StorageError> {
        self.coordination.as_ref().map(|c| c.commit_lock()).transpose()
    }

    /// Makes `next` the state readers see (snapshot and fast token together).
    fn publish(&self, commit: &mut Commit, next: Snapshot) {
        let fast = FastToken::of(&next.state, self.config.refresh_threshold);
        *self.snapshot.write() = Arc::new(next);
        *self.fast.write() = fast;
        self.pending.store(commit.unsaved, Ordering::Release);
    }

    /// Deletes the device summary (signed out); a failure is only logged.
    fn forget_device(&self) {
        if self.device.write().take().is_some()
            && let Err(e) = persist::write_device(&self.info, &self.stores, None)
        {
            tracing::warn!(server = %self.info.id, error = %e, "device summary not deleted");
        }
    }

    /// Stops accepting events and drops what the session held: the server
    /// was removed (invariant 13: a held session of a removed server hands
    /// out nothing and sends nothing).
    pub(crate) fn mark_removed(&self) {
        let mut after = Aftermath::new(self);
        let mut commit = self.commit.lock();
        commit.removed = true;
        commit.unsaved = false;
        self.removed.store(true, Ordering::Release);
        let current = self.snapshot();
        if let Ok(step) = transition(&current, Event::Removed)
            && step.next != *current
        {
            // No bump here: the manager bumps once for the removal.
            after.published(StateKind::NoSession, &step.effects);
            after.bumps.clear();
            self.publish(&mut commit, step.next);
        }
        self.pending.store(false, Ordering::Release);
        drop(commit);
        *self.device.write() = None;
        // Even a signed-out session's epoch ends: nothing it started may go on.
        after.cancels.push(CancelReason::SignedOut);
    }

    pub(crate) fn stores(&self) -> &Stores {
        &self.stores
    }

    fn definitive_error(&self) -> SessionError {
        if self.is_removed() {
            return SessionError::ServerRemoved;
        }
        match &self.snapshot().state {
            SessionState::NoSession => SessionError::SignedOut,
            SessionState::Expired { reason, .. } => SessionError::SignInRequired { reason: *reason },
            SessionState::Active { .. } => SessionError::SignInRequired { reason: ExpiryReason::RefreshRejected },
        }
    }

    fn refresh_error(&self, error: &RefreshError) -> SessionError {
        match error {
            RefreshError::Transient { kind, retry_after } => {
                SessionError::TryLater { kind: *kind, retry_after: *retry_after }
            }
            RefreshError::Configuration { detail } => SessionError::Configuration(detail.clone()),
            _ => self.definitive_error(),
        }
    }
}
