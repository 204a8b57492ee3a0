//! The crash-safety scenario shared by `crash_safety.rs` and `crash_points.rs`:
//! the cycle of transitions, the state each leaves, and how to read it back.
#![allow(dead_code)]

use std::sync::Arc;

use authstate::model::OidcConfig;
use authstate::storage::{KeyValueStore, SecretStore};
use authstate::{ExpiryReason, ManagerConfig, Provider, ProviderKind, Secret, ServerManager, SessionState, TokenGrant};

/// Transitions the child persists.
pub const STEPS: u64 = 1_000;
/// The server whose session cycles through every transition.
pub const MAIN: &str = "main";
/// A server signed in once before the first step and never touched again: a
/// torn or lost write of the shared files would show here.
pub const BYSTANDER: &str = "bystander";

// ---------------------------------------------------------------------------
// The transitions and the state each one leaves.
// ---------------------------------------------------------------------------

/// What step `i` does. The cycle covers every persisted transition of the
/// public API: sign-in from each state, expiry, and logout from each state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    SignIn,
    MarkExpired,
    Logout,
}

pub const CYCLE: [Action; 8] = [
    Action::SignIn,      // NoSession -> Active
    Action::SignIn,      // Active -> Active (new tokens)
    Action::MarkExpired, // Active -> Expired
    Action::SignIn,      // Expired -> Active
    Action::Logout,      // Active -> NoSession
    Action::SignIn,      // NoSession -> Active
    Action::MarkExpired, // Active -> Expired
    Action::Logout,      // Expired -> NoSession
];

pub fn action(step: u64) -> Action {
    CYCLE[(step % CYCLE.len() as u64) as usize]
}

/// A state, reduced to what the test can predict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    NoSession,
    /// Active with the tokens of sign-in step `n` (`a-n`, `r-n`).
    Active(u64),
    /// Expired (marked) with the tokens of sign-in step `n`.
    Expired(u64),
}

/// The state of `MAIN` after step `step` (`None`: before the first step).
pub fn expected_after(step: Option<u64>) -> Expected {
    let mut state = Expected::NoSession;
    let Some(last) = step else { return state };
    // The cycle returns to NoSession at every multiple of its length.
    let cycle = CYCLE.len() as u64;
    for i in (last - last % cycle)..=last {
        state = match (action(i), state) {
            (Action::SignIn, _) => Expected::Active(i),
            (Action::MarkExpired, Expected::Active(n)) => Expected::Expired(n),
            (Action::Logout, _) => Expected::NoSession,
            (a, s) => panic!("cycle bug: {a:?} in {s:?}"),
        };
    }
    state
}

pub fn observed(state: &SessionState) -> Result<Expected, String> {
    fn token_number(provider: ProviderKind, access: &Secret, refresh: Option<&Secret>) -> Result<u64, String> {
        if provider != ProviderKind::Oidc {
            return Err(format!("provider {provider:?}"));
        }
        let n: u64 = access
            .expose()
            .strip_prefix("a-")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("unexpected access token {:?}", access.expose()))?;
        let want = format!("r-{n}");
        match refresh {
            Some(r) if r.expose() == want => Ok(n),
            other => Err(format!("access a-{n} with refresh {:?}", other.map(Secret::expose))),
        }
    }
    match state {
        SessionState::NoSession => Ok(Expected::NoSession),
        SessionState::Active { provider, tokens } => {
            token_number(*provider, &tokens.access, tokens.refresh.as_ref()).map(Expected::Active)
        }
        SessionState::Expired { provider, tokens, reason: ExpiryReason::Marked } => {
            token_number(*provider, &tokens.access, tokens.refresh.as_ref()).map(Expected::Expired)
        }
        SessionState::Expired { reason, .. } => Err(format!("expired for an unexpected reason {reason:?}")),
    }
}

pub fn grant(access: &str, refresh: &str) -> TokenGrant {
    TokenGrant {
        access: Secret::new(access),
        refresh: Some(Secret::new(refresh)),
        id_token: None,
        expires_in: Some(3600),
    }
}

pub fn provider(name: &str) -> Provider {
    Provider::Oidc(OidcConfig {
        issuer: format!("https://{name}.example/"),
        client_id: format!("{name}-client"),
        redirect_uri: "com.example.app:/callback".into(),
        scopes: vec!["profile".into()],
    })
}

pub fn manager_over(secrets: Arc<dyn SecretStore>, kv: Arc<dyn KeyValueStore>) -> Result<ServerManager, String> {
    ServerManager::open(ManagerConfig::new(secrets, kv)).map_err(|e| format!("ServerManager::open failed: {e}"))
}
