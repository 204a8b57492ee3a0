//! The session state machine: one pure function, data in, data out.
//!
//! [`transition`] reads like a table: one arm per (state, event) pair that is
//! allowed, and a last arm naming every pair that is not. It does no I/O: the
//! effects (persist, delete secrets, cancel in-flight work) come back as values
//! for the driver in `session.rs` to execute in a fixed order.
//!
//! Guarantees (DESIGN.md): 1 (`Active` is the only authenticated state),
//! 2 (transient failures change nothing), 3 (definitive refresh failures move
//! `Active → Expired` keeping tokens), 5 (a refresh result from an older
//! generation is discarded, so a logout is never undone), 6 (a stale 401 does
//! not refresh again; rotation keeps the old refresh token when none is
//! returned), 7 (a 403 never touches state), 11 (leaving `Active` cancels).

use time::OffsetDateTime;

use crate::cancel::CancelReason;
use crate::model::{ExpiryReason, ProviderKind, Secret, SessionState, StateKind, TokenGrant, Tokens};

/// A session state plus its generation: a counter bumped on every change of
/// tokens (sign-in, refresh, logout, restore). A refresh result carries the
/// generation it started from and is applied only if nothing changed meanwhile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The state.
    pub state: SessionState,
    /// The token generation.
    pub generation: u64,
}

impl Snapshot {
    /// The initial snapshot: `NoSession`, generation 0.
    pub const fn initial() -> Self {
        Self { state: SessionState::NoSession, generation: 0 }
    }
}

/// Why a refresh did not produce tokens, as far as state is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshFailure {
    /// Network, timeout, 5xx, 429, cancellation: change nothing, back off.
    Transient,
    /// The server rejected the refresh token (`invalid_grant`, blacklisted, revoked).
    Rejected,
    /// There is no refresh token to present.
    NoRefreshToken,
    /// The refresh endpoint answered in a way that shows a misconfiguration
    /// (a 4xx that is not an auth answer): the tokens cannot be refreshed
    /// until the configuration is fixed.
    Misconfigured,
    /// The server rejected a refresh token that an interrupted refresh (a
    /// process killed before it saved the answer) had already presented: the
    /// answer, and the rotated tokens in it, were lost.
    Interrupted,
}

/// What a session probe said about the current token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeResult {
    /// The server accepts the token.
    Valid,
    /// The server answered, and the token is no longer valid.
    Stale,
    /// No answer (network, timeout, 5xx): says nothing about the token.
    Unreachable,
}

/// Something that happened to a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A login completed with these tokens.
    SignedIn {
        /// The backend that issued them.
        provider: ProviderKind,
        /// The tokens.
        tokens: Tokens,
    },
    /// A refresh started at `generation` returned a grant at `at`.
    Refreshed {
        /// The generation the refresh started from.
        generation: u64,
        /// What the server returned.
        grant: TokenGrant,
        /// When it was received, by the local clock.
        at: OffsetDateTime,
    },
    /// A refresh started at `generation` failed.
    RefreshFailed {
        /// The generation the refresh started from.
        generation: u64,
        /// How it failed.
        failure: RefreshFailure,
    },
    /// A resource answered 401 to a request that carried `token_used`.
    Unauthorized {
        /// The access token the request carried (redacted in `Debug`).
        token_used: Secret,
    },
    /// A resource answered 403.
    Forbidden,
    /// A session probe of the tokens of `generation` answered.
    Probe {
        /// The generation whose tokens were probed.
        generation: u64,
        /// What the server said.
        result: ProbeResult,
    },
    /// The host marks the session expired.
    MarkExpired(ExpiryReason),
    /// The user signs out.
    Logout,
    /// The state read back from storage at startup.
    Restore(SessionState),
    /// The stores hold another state than memory: another process signed in,
    /// refreshed, expired or signed out. Adopt it (it is already stored).
    Reload(SessionState),
    /// The server was removed from the manager (here or by another process).
    Removed,
}

impl Event {
    /// A short name for logs (never a secret).
    pub fn name(&self) -> &'static str {
        match self {
            Self::SignedIn { .. } => "signed_in",
            Self::Refreshed { .. } => "refreshed",
            Self::RefreshFailed { .. } => "refresh_failed",
            Self::Unauthorized { .. } => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::Probe { .. } => "probe",
            Self::MarkExpired(_) => "mark_expired",
            Self::Logout => "logout",
            Self::Restore(_) => "restore",
            Self::Reload(_) => "reload",
            Self::Removed => "removed",
        }
    }
}

/// Work the driver must do, in this order: persist, bump revision, notify, cancel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Write the tokens to the secret store (before the record).
    PersistTokens,
    /// Write the server record (state kind, no secrets).
    PersistRecord,
    /// Delete the tokens from the secret store (after the record).
    DeleteSecrets,
    /// Cancel the server's in-flight work.
    Cancel(CancelReason),
}

/// What the event means for the caller, beyond the new state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The state changed as the event asked.
    Applied,
    /// Nothing to do: the state already reflects the event, or the event says nothing.
    Unchanged,
    /// A result from an older generation (or after logout) was dropped.
    Discarded,
    /// The current token was refused: refresh once, then retry the request.
    RefreshAndRetry,
    /// A newer token than the one used exists: retry with it, do not refresh.
    RetryWithCurrentToken,
    /// Permission denied: state untouched.
    PermissionDenied,
    /// The session cannot be used until the user signs in (again).
    SignInRequired,
}

/// The result of a transition: next snapshot, effects, verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The snapshot after the event (equal to the input when nothing changed).
    pub next: Snapshot,
    /// Effects for the driver, in order.
    pub effects: Vec<Effect>,
    /// What the event means for the caller.
    pub verdict: Verdict,
}

/// An event that makes no sense in the current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("event {event} is not valid in state {from:?}")]
pub struct InvalidTransition {
    /// The state the event arrived in.
    pub from: StateKind,
    /// The event's name.
    pub event: &'static str,
}

fn stay(now: &Snapshot, verdict: Verdict) -> Step {
    Step { next: now.clone(), effects: Vec::new(), verdict }
}

fn to(state: SessionState, generation: u64, effects: Vec<Effect>) -> Step {
    Step { next: Snapshot { state, generation }, effects, verdict: Verdict::Applied }
}

fn expire(provider: ProviderKind, tokens: &Tokens, reason: ExpiryReason, generation: u64) -> Step {
    let state = SessionState::Expired { provider, tokens: tokens.clone(), reason };
    let mut step = to(state, generation, vec![Effect::PersistRecord, Effect::Cancel(CancelReason::AuthExpired)]);
    step.verdict = Verdict::SignInRequired;
    step
}

/// The transition table. Pure: no I/O, no clock, no randomness.
pub fn transition(now: &Snapshot, event: Event) -> Result<Step, InvalidTransition> {
    use SessionState::{Active, Expired, NoSession};
    let generation = now.generation;
    let next_gen = generation.wrapping_add(1);
    match (&now.state, event) {
        // Sign-in replaces whatever was there.
        (_, Event::SignedIn { provider, tokens }) => {
            Ok(to(Active { provider, tokens }, next_gen, vec![Effect::PersistTokens, Effect::PersistRecord]))
        }

        // Logout: the only event that deletes tokens (invariant 2).
        (NoSession, Event::Logout) => Ok(stay(now, Verdict::Unchanged)),
        (Active { .. } | Expired { .. }, Event::Logout) => Ok(to(
            NoSession,
            next_gen,
            vec![Effect::PersistRecord, Effect::DeleteSecrets, Effect::Cancel(CancelReason::SignedOut)],
        )),

        // Refresh results: applied only to the generation they started from (invariant 5).
        (NoSession, Event::Refreshed { .. } | Event::RefreshFailed { .. }) => Ok(stay(now, Verdict::Discarded)),
        (_, Event::Refreshed { generation: g, .. } | Event::RefreshFailed { generation: g, .. }) if g != generation => {
            Ok(stay(now, Verdict::Discarded))
        }
        (Active { provider, tokens } | Expired { provider, tokens, .. }, Event::Refreshed { grant, at, .. }) => Ok(to(
            Active { provider: *provider, tokens: tokens.rotated(grant, at) },
            next_gen,
            vec![Effect::PersistTokens, Effect::PersistRecord],
        )),
        (Active { .. } | Expired { .. }, Event::RefreshFailed { failure: RefreshFailure::Transient, .. }) => {
            Ok(stay(now, Verdict::Unchanged))
        }
        (Active { provider, tokens }, Event::RefreshFailed { failure, .. }) => {
            let reason = match failure {
                RefreshFailure::NoRefreshToken => ExpiryReason::NoRefreshToken,
                RefreshFailure::Misconfigured => ExpiryReason::Misconfigured,
                RefreshFailure::Interrupted => ExpiryReason::RefreshInterrupted,
                _ => ExpiryReason::RefreshRejected,
            };
            Ok(expire(*provider, tokens, reason, generation))
        }
        (Expired { .. }, Event::RefreshFailed { .. }) => Ok(stay(now, Verdict::SignInRequired)),

        // 401 (invariants 6 and 7): refresh once for the current token, never for an older one.
        (NoSession | Expired { .. }, Event::Unauthorized { .. }) => Ok(stay(now, Verdict::SignInRequired)),
        (Active { tokens, .. }, Event::Unauthorized { token_used }) if token_used != tokens.access => {
            Ok(stay(now, Verdict::RetryWithCurrentToken))
        }
        (Active { tokens, .. }, Event::Unauthorized { .. }) if tokens.refresh.is_some() => {
            Ok(stay(now, Verdict::RefreshAndRetry))
        }
        (Active { provider, tokens }, Event::Unauthorized { .. }) => {
            Ok(expire(*provider, tokens, ExpiryReason::Unauthorized, generation))
        }

        // 403: permission, not authentication. Never a state change.
        (_, Event::Forbidden) => Ok(stay(now, Verdict::PermissionDenied)),

        // Session probe (opaque tokens): only an answer that says "stale"
        // expires, and only for the tokens that were probed.
        (Active { .. } | Expired { .. }, Event::Probe { generation: g, .. }) if g != generation => {
            Ok(stay(now, Verdict::Discarded))
        }
        (Active { .. } | Expired { .. }, Event::Probe { result: ProbeResult::Unreachable, .. }) => {
            Ok(stay(now, Verdict::Unchanged))
        }
        (Active { .. }, Event::Probe { result: ProbeResult::Valid, .. }) => Ok(stay(now, Verdict::Unchanged)),
        (Active { provider, tokens }, Event::Probe { result: ProbeResult::Stale, .. }) => {
            Ok(expire(*provider, tokens, ExpiryReason::StaleToken, generation))
        }
        (Expired { provider, tokens, .. }, Event::Probe { result: ProbeResult::Valid, .. }) => {
            Ok(to(Active { provider: *provider, tokens: tokens.clone() }, generation, vec![Effect::PersistRecord]))
        }
        (Expired { .. }, Event::Probe { result: ProbeResult::Stale, .. }) => Ok(stay(now, Verdict::SignInRequired)),

        // Host-driven expiry.
        (Active { provider, tokens }, Event::MarkExpired(reason)) => Ok(expire(*provider, tokens, reason, generation)),
        (Expired { .. }, Event::MarkExpired(_)) => Ok(stay(now, Verdict::Unchanged)),

        // Restore happens once, into a fresh session; storage already holds it.
        (NoSession, Event::Restore(state)) if generation == 0 => Ok(to(state, next_gen, Vec::new())),

        // Another process changed the stored state: adopt it as stored (no
        // write), cancelling this process's work if it leaves `Active`.
        (_, Event::Reload(state)) if state == now.state => Ok(stay(now, Verdict::Unchanged)),
        (Active { .. }, Event::Reload(state)) if !state.is_authenticated() => {
            let reason = match state {
                NoSession => CancelReason::SignedOut,
                _ => CancelReason::AuthExpired,
            };
            Ok(to(state, next_gen, vec![Effect::Cancel(reason)]))
        }
        (_, Event::Reload(state)) => Ok(to(state, next_gen, Vec::new())),

        // Removal: the manager deletes what was stored; the session holds nothing more.
        (NoSession, Event::Removed) => Ok(stay(now, Verdict::Unchanged)),
        (Active { .. } | Expired { .. }, Event::Removed) => {
            Ok(to(NoSession, next_gen, vec![Effect::Cancel(CancelReason::SignedOut)]))
        }

        // Everything else is a programming error on the caller's side.
        (NoSession, ev @ (Event::Probe { .. } | Event::MarkExpired(_) | Event::Restore(_)))
        | (Active { .. } | Expired { .. }, ev @ Event::Restore(_)) => {
            Err(InvalidTransition { from: now.state.kind(), event: ev.name() })
        }
    }
}

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "machine_diagram_tests.rs"]
mod diagram_tests;
