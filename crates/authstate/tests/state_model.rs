//! Model-based property test of the session driver (DESIGN.md invariants
//! 1–6, 9, 10 and 13).
//!
//! Random sequences of sign-in, refreshes that the test answers out of order
//! (success with or without rotation, transient, definitive), 401s with the
//! current or a stale token, 403, logout, mark-expired, clock moves,
//! restarts from storage, and host faults (the secret store, the value store
//! or an observer throwing, panicking or returning garbage for the next few
//! calls, then healing) run against the real `ServerManager` and a ten-line
//! reference model. A host fault never changes what memory holds; what the
//! stores refused is saved once they heal. Cases: `PROPTEST_CASES` (CI sets 5,000).

mod common;

use std::sync::Arc;

use authstate::{
    Change, ExpiryReason, ManagerConfig, ManualClock, ProviderKind, RefreshError, ServerManager, SessionError,
    SessionObserver, SessionState, StateKind, TokenGrant, TransientKind,
};
use common::faulty::{Fault, Faulty, Op};
use common::{Fixed, Scripted, grant};
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
    SignIn {
        expires_in: i64,
    },
    Refresh,
    FreshToken,
    Answer {
        index: usize,
        answer: Answer,
    },
    Unauthorized {
        current: bool,
    },
    Forbidden,
    Logout,
    MarkExpired,
    Advance {
        secs: i64,
    },
    Restart,
    /// The next `calls` calls into a host callback misbehave.
    HostFault {
        target: Target,
        fault: Fault,
        calls: usize,
    },
    /// Every host callback works again.
    Heal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Secrets,
    Values,
    Observer,
}

/// An observer that panics while armed.
#[derive(Default)]
struct Observer {
    panics_left: std::sync::atomic::AtomicUsize,
}

impl SessionObserver for Observer {
    fn on_change(&self, _: &Change) {
        let left = self.panics_left.load(std::sync::atomic::Ordering::SeqCst);
        if left > 0 {
            self.panics_left.store(left - 1, std::sync::atomic::Ordering::SeqCst);
            panic!("injected: observer panicked");
        }
    }
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
        2 => (
            prop_oneof![Just(Target::Secrets), Just(Target::Values), Just(Target::Observer)],
            prop_oneof![Just(Fault::Throw), Just(Fault::Panic), Just(Fault::Garbage)],
            1..4_usize,
        )
            .prop_map(|(target, fault, calls)| Action::HostFault { target, fault, calls }),
        2 => Just(Action::Heal),
    ]
}

fn open(secrets: &Faulty, kv: &Faulty, clock: &ManualClock, refresher: Arc<Scripted>) -> ServerManager {
    let config = ManagerConfig::new(Arc::new(secrets.clone()), Arc::new(kv.clone()))
        .with_clock(Arc::new(clock.clone()))
        .with_backoff(authstate::refresh::BackoffPolicy { initial: time::Duration::ZERO, max: time::Duration::ZERO })
        .with_refreshers(Arc::new(Fixed(refresher)));
    match ServerManager::open(config) {
        Ok(m) => m,
        Err(e) => panic!("open failed: {e}"),
    }
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
        let (secrets, kv, clock) = (Faulty::new(), Faulty::new(), ManualClock::at_epoch());
        let observer = Arc::new(Observer::default());
        let mut manager = open(&secrets, &kv, &clock, refresher.clone());
        let mut _subscription = manager.subscribe(observer.clone());
        let mut session = manager.add_server("https://api.example", Some("api"), common::oidc()).unwrap();
        let mut model = Model { kind: StateKind::NoSession, access: None, refresh: None, reason: None };
        let mut counter = 0_u32;
        let mut tasks = Vec::new();

        for action in actions {
            let before = session.state();
            let pending_before = session.persistence_pending();
            let revision_before = manager.connection_revision();
            let calls_before = refresher.calls();
            counter += 1;
            match &action {
                Action::SignIn { expires_in } => {
                    let (a, r) = (format!("a{counter}"), format!("r{counter}"));
                    let signed_in = session.sign_in(ProviderKind::Oidc, grant(&a, Some(&r), *expires_in));
                    prop_assert!(matches!(signed_in, Ok(()) | Err(SessionError::Storage(_))), "{:?}", signed_in);
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
                    let out = session.logout();
                    prop_assert!(matches!(out, Ok(()) | Err(SessionError::Storage(_))), "{:?}", out);
                    model = Model { kind: StateKind::NoSession, access: None, refresh: None, reason: None };
                }
                Action::MarkExpired => {
                    let result = session.mark_expired(ExpiryReason::Marked);
                    let refused = matches!(result, Err(SessionError::InvalidTransition(_)));
                    prop_assert_eq!(refused, model.kind == StateKind::NoSession, "{:?}", result);
                    if model.kind == StateKind::Active {
                        model.kind = StateKind::Expired;
                        model.reason = Some(ExpiryReason::Marked);
                    }
                }
                Action::Advance { secs } => clock.advance(Duration::seconds(*secs)),
                Action::Restart => {
                    // A process exits: its unanswered requests never complete, and
                    // a healthy host lets it save what was pending first.
                    while refresher.answer(0, Err(RefreshError::transient(TransientKind::Cancelled))).is_some() {}
                    settle().await;
                    for t in tasks.drain(..) {
                        let _ = t.await;
                    }
                    secrets.heal();
                    kv.heal();
                    manager.catch_up();
                    prop_assert!(!session.persistence_pending());
                    manager = open(&secrets, &kv, &clock, refresher.clone());
                    _subscription = manager.subscribe(observer.clone());
                    session = manager.session("api").unwrap();
                    // Invariant 10: restored exactly as it was.
                    prop_assert_eq!(session.state(), before.clone());
                }
                Action::HostFault { target, fault, calls } => {
                    let ops = [Op::Get, Op::Set, Op::Delete, Op::Keys];
                    match target {
                        Target::Secrets => secrets.fail(*fault, &ops, 0, *calls),
                        Target::Values => kv.fail(*fault, &ops, 0, *calls),
                        Target::Observer => observer.panics_left.store(*calls, std::sync::atomic::Ordering::SeqCst),
                    }
                }
                Action::Heal => {
                    secrets.heal();
                    kv.heal();
                    observer.panics_left.store(0, std::sync::atomic::Ordering::SeqCst);
                    manager.catch_up();
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
            // Invariant 9: the revision moves when the state changed (a restart
            // starts a new counter), and otherwise only when a pending save landed.
            if !matches!(action, Action::Restart) {
                let moved = manager.connection_revision() > revision_before;
                if after != before {
                    prop_assert!(moved, "revision did not move after {:?}", action);
                } else if moved {
                    prop_assert!(
                        pending_before != session.persistence_pending() || pending_before,
                        "revision moved for nothing after {:?}",
                        action
                    );
                }
            }
            // Invariant 10: unless a save is pending, storage holds exactly what
            // memory holds, secrets in the secret store only.
            if !session.persistence_pending() {
                let record = kv.peek("authstate.server.api").unwrap();
                let record: serde_json::Value = serde_json::from_str(&record).unwrap();
                let kind_name = serde_json::to_value(after.kind()).unwrap();
                prop_assert_eq!(&record["session"], &kind_name);
                match after.tokens() {
                    Some(t) => {
                        let stored = secrets.peek("authstate.tokens.api").unwrap();
                        let stored: serde_json::Value = serde_json::from_str(&stored).unwrap();
                        prop_assert_eq!(stored["tokens"]["access"].as_str(), Some(t.access.expose()));
                        prop_assert!(!record.to_string().contains(t.access.expose()));
                    }
                    None => prop_assert!(secrets.peek("authstate.tokens.api").is_none()),
                }
            }
        }
        Ok(())
    })
}

/// Injected panics are expected; keep them out of the output.
fn quiet_injected_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let injected = info.payload().downcast_ref::<&str>().is_some_and(|m| m.starts_with("injected"));
            if !injected {
                previous(info);
            }
        }));
    });
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512),
        max_shrink_iters: 2000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn session_driver_matches_the_reference_model(actions in proptest::collection::vec(action(), 1..40)) {
        quiet_injected_panics();
        run_case(actions)?;
    }
}
