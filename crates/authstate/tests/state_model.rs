//! Model-based property test of the session driver (DESIGN.md invariants
//! 1–6, 9 and 10).
//!
//! Random sequences of sign-in, refreshes that the test answers out of order
//! (success with or without rotation, transient, definitive), 401s with the
//! current or a stale token, 403, logout, mark-expired, clock moves and
//! restarts from storage run against the real `ServerManager` and a ten-line
//! reference model. Cases: `PROPTEST_CASES` (CI sets 5,000).

mod common;

use std::sync::Arc;

use authstate::storage::{KeyValueStore, SecretStore};
use authstate::{ExpiryReason, ProviderKind, RefreshError, SessionState, StateKind, TokenGrant, TransientKind};
use common::{Scripted, grant, harness, reopen};
use proptest::prelude::*;
use time::Duration;

#[derive(Debug, Clone)]
enum Answer {
    Success { rotate: bool },
    Transient,
    Rejected,
}

#[derive(Debug, Clone)]
enum Action {
    SignIn { expires_in: i64 },
    Refresh,
    FreshToken,
    Answer { index: usize, answer: Answer },
    Unauthorized { current: bool },
    Forbidden,
    Logout,
    MarkExpired,
    Advance { secs: i64 },
    Restart,
}

fn action() -> impl Strategy<Value = Action> {
    let answer = prop_oneof![
        3 => any::<bool>().prop_map(|rotate| Answer::Success { rotate }),
        2 => Just(Answer::Transient),
        2 => Just(Answer::Rejected),
    ];
    prop_oneof![
        3 => prop_oneof![Just(60_i64), Just(3600)].prop_map(|expires_in| Action::SignIn { expires_in }),
        3 => Just(Action::Refresh),
        3 => Just(Action::FreshToken),
        6 => (0..3_usize, answer).prop_map(|(index, answer)| Action::Answer { index, answer }),
        2 => any::<bool>().prop_map(|current| Action::Unauthorized { current }),
        1 => Just(Action::Forbidden),
        2 => Just(Action::Logout),
        1 => Just(Action::MarkExpired),
        2 => prop_oneof![Just(0_i64), Just(200), Just(4000)].prop_map(|secs| Action::Advance { secs }),
        1 => Just(Action::Restart),
    ]
}

/// The reference model: what the session must hold.
#[derive(Debug, Clone, PartialEq)]
struct Model {
    kind: StateKind,
    access: Option<String>,
    refresh: Option<String>,
    reason: Option<ExpiryReason>,
}

impl Model {
    fn apply_answer(&mut self, presented: &str, answer: &Answer, new_access: &str, new_refresh: &str) {
        let current = self.kind != StateKind::NoSession && self.access.as_deref() == Some(presented);
        match answer {
            Answer::Success { rotate } if current => {
                self.kind = StateKind::Active;
                self.access = Some(new_access.into());
                if *rotate {
                    self.refresh = Some(new_refresh.into());
                }
                self.reason = None;
            }
            Answer::Rejected if current && self.kind == StateKind::Active => {
                self.kind = StateKind::Expired;
                self.reason = Some(ExpiryReason::RefreshRejected);
            }
            _ => {}
        }
    }
}

fn observe(state: &SessionState) -> Model {
    let tokens = state.tokens();
    Model {
        kind: state.kind(),
        access: tokens.map(|t| t.access.expose().to_owned()),
        refresh: tokens.and_then(|t| t.refresh.as_ref().map(|r| r.expose().to_owned())),
        reason: state.expiry_reason(),
    }
}

async fn settle() {
    for _ in 0..32 {
        tokio::task::yield_now().await;
    }
}

fn run_case(actions: Vec<Action>) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    rt.block_on(async move {
        let refresher = Arc::new(Scripted::default());
        let h = harness(refresher.clone());
        let mut manager = h.manager.clone();
        let mut session = manager.add_server("https://api.example", Some("api"), common::oidc()).unwrap();
        let mut model = Model { kind: StateKind::NoSession, access: None, refresh: None, reason: None };
        let mut counter = 0_u32;
        let mut tasks = Vec::new();

        for action in actions {
            let before = session.state();
            let revision_before = manager.connection_revision();
            let calls_before = refresher.calls();
            counter += 1;
            match &action {
                Action::SignIn { expires_in } => {
                    let (a, r) = (format!("a{counter}"), format!("r{counter}"));
                    session.sign_in(ProviderKind::Oidc, grant(&a, Some(&r), *expires_in)).unwrap();
                    model = Model { kind: StateKind::Active, access: Some(a), refresh: Some(r), reason: None };
                }
                Action::Refresh => {
                    let s = Arc::clone(&session);
                    tasks.push(tokio::spawn(async move { s.refresh().await.map(|_| ()) }));
                }
                Action::FreshToken => {
                    let s = Arc::clone(&session);
                    tasks.push(tokio::spawn(async move { s.fresh_access_token().await.map(|_| ()) }));
                }
                Action::Answer { index, answer } => {
                    let (a, r) = (format!("a{counter}"), format!("r{counter}"));
                    let result: Result<TokenGrant, RefreshError> = match answer {
                        Answer::Success { rotate } => Ok(grant(&a, rotate.then_some(r.as_str()), 3600)),
                        Answer::Transient => Err(RefreshError::transient(TransientKind::Network)),
                        Answer::Rejected => Err(RefreshError::Rejected { detail: "invalid_grant".into() }),
                    };
                    if let Some((presented, _)) = refresher.answer(*index, result) {
                        model.apply_answer(&presented, answer, &a, &r);
                    }
                }
                Action::Unauthorized { current } => {
                    let used = if *current { model.access.clone().unwrap_or_default() } else { "stale-token".into() };
                    let s = Arc::clone(&session);
                    tasks.push(tokio::spawn(async move { s.recover_from_401(&used).await.map(|_| ()) }));
                }
                Action::Forbidden => {
                    session.on_forbidden();
                }
                Action::Logout => {
                    session.logout().unwrap();
                    model = Model { kind: StateKind::NoSession, access: None, refresh: None, reason: None };
                }
                Action::MarkExpired => {
                    let result = session.mark_expired(ExpiryReason::Marked);
                    prop_assert_eq!(result.is_err(), model.kind == StateKind::NoSession);
                    if model.kind == StateKind::Active {
                        model.kind = StateKind::Expired;
                        model.reason = Some(ExpiryReason::Marked);
                    }
                }
                Action::Advance { secs } => h.clock.advance(Duration::seconds(*secs)),
                Action::Restart => {
                    // A process dies: its unanswered requests never complete.
                    while refresher.answer(0, Err(RefreshError::transient(TransientKind::Cancelled))).is_some() {}
                    settle().await;
                    for t in tasks.drain(..) {
                        let _ = t.await;
                    }
                    manager = reopen(&h.secrets, &h.kv, &h.clock, refresher.clone());
                    session = manager.session("api").unwrap();
                    // Invariant 10: restored exactly as it was.
                    prop_assert_eq!(session.state(), before.clone());
                }
            }
            settle().await;
            let after = session.state();

            // Invariant 1.
            prop_assert_eq!(session.is_authenticated(), after.kind() == StateKind::Active);
            // The reference model (invariants 2, 3, 5, 6).
            prop_assert_eq!(observe(&after), model.clone(), "after {:?}", action);
            // Invariant 4: never two token requests at once.
            prop_assert_eq!(refresher.overlapped.load(std::sync::atomic::Ordering::SeqCst), 0);
            // Invariant 6: a stale 401 and a 403 never cause a token request.
            if matches!(action, Action::Unauthorized { current: false } | Action::Forbidden) {
                prop_assert_eq!(refresher.calls(), calls_before);
            }
            // Invariant 9: the revision moves exactly when the state changed (a restart starts a new counter).
            if !matches!(action, Action::Restart) {
                let moved = manager.connection_revision() > revision_before;
                prop_assert_eq!(moved, after != before, "revision vs change after {:?}", action);
            }
            // Invariant 10: storage holds exactly what memory holds, secrets in the secret store only.
            let record = KeyValueStore::get(&h.kv, "authstate.server.api").unwrap();
            let record: serde_json::Value = serde_json::from_str(&record).unwrap();
            let kind_name = serde_json::to_value(after.kind()).unwrap();
            prop_assert_eq!(&record["session"], &kind_name);
            match after.tokens() {
                Some(t) => {
                    let stored = SecretStore::get(&h.secrets, "authstate.tokens.api").unwrap();
                    let stored: serde_json::Value = serde_json::from_str(&stored).unwrap();
                    prop_assert_eq!(stored["tokens"]["access"].as_str(), Some(t.access.expose()));
                    prop_assert!(!record.to_string().contains(t.access.expose()));
                }
                None => prop_assert!(SecretStore::get(&h.secrets, "authstate.tokens.api").is_err()),
            }
        }
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512),
        max_shrink_iters: 2000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn session_driver_matches_the_reference_model(actions in proptest::collection::vec(action(), 1..40)) {
        run_case(actions)?;
    }
}
