//! What the host's stores refuse is never lost (DESIGN.md invariants 6, 12
//! and 13): rotated tokens the secret store cannot take stay in use, are
//! reported as pending, are saved at the next chance and never replaced by
//! older ones; where the lock directory may hold them they survive a crash in
//! the journal; an interrupted refresh is told apart from a rejected one; a
//! removed server's session holds nothing; contradictory host records are
//! refused and reported.

mod common;

use std::path::Path;
use std::sync::Arc;

use authstate::storage::{FileStore, KeyValueStore, MemoryStore};
use authstate::{
    ExpiryReason, ManagerConfig, ManualClock, ProviderKind, RecordProblem, RefreshError, Refresher, ServerManager,
    SessionError, SessionState, StateKind, TransientKind,
};
use common::faulty::{Fault, Faulty, Op};
use common::{Fixed, Gated, Scripted, grant, oidc};
use time::Duration;

const TOKENS: &str = "authstate.tokens.api";

fn open(secrets: &Faulty, kv: &Faulty, clock: &ManualClock, refresher: Arc<dyn Refresher>) -> ServerManager {
    let config = ManagerConfig::new(Arc::new(secrets.clone()), Arc::new(kv.clone()))
        .with_clock(Arc::new(clock.clone()))
        .with_backoff(authstate::refresh::BackoffPolicy { initial: Duration::ZERO, max: Duration::ZERO })
        .with_refreshers(Arc::new(Fixed(refresher)));
    ServerManager::open(config).unwrap()
}

fn stored_access(secrets: &Faulty) -> Option<String> {
    let json: serde_json::Value = serde_json::from_str(&secrets.peek(TOKENS)?).ok()?;
    json["tokens"]["access"].as_str().map(str::to_owned)
}

#[tokio::test]
async fn rotated_tokens_the_store_refuses_stay_in_use_and_are_saved_at_the_next_chance() {
    let (secrets, kv, clock) = (Faulty::new(), Faulty::new(), ManualClock::at_epoch());
    let refresher = Gated::new(Ok(grant("a2", Some("r2"), 3600)));
    let m = open(&secrets, &kv, &clock, refresher.clone());
    let s = m.add_server("https://api.example", Some("api"), oidc()).unwrap();
    s.sign_in(ProviderKind::Oidc, grant("a1", Some("r1"), 60)).unwrap();
    clock.advance(Duration::seconds(120));

    secrets.fail(Fault::Throw, &[Op::Set], 0, usize::MAX);
    let revision = m.connection_revision();
    refresher.release();
    assert_eq!(s.fresh_access_token().await.unwrap().expose(), "a2", "the server retired a1: a2 is the token");
    assert!(s.persistence_pending());
    assert!(m.connection_revision() > revision, "observers learn of it");
    assert_eq!(stored_access(&secrets).as_deref(), Some("a1"));

    // A later change while the store still refuses keeps the newest tokens.
    s.mark_expired(ExpiryReason::Marked).unwrap_err();
    assert!(s.persistence_pending());

    secrets.heal();
    m.catch_up();
    assert!(!s.persistence_pending());
    assert_eq!(stored_access(&secrets).as_deref(), Some("a2"), "saved once the store took it");
    let again = open(&secrets, &kv, &clock, refresher.clone());
    match again.session("api").unwrap().state() {
        SessionState::Expired { tokens, .. } => assert_eq!(tokens.refresh.unwrap().expose(), "r2"),
        other => panic!("expected the expired session with r2, got {other:?}"),
    }
}

#[tokio::test]
async fn an_explicit_refresh_that_cannot_be_saved_says_so() {
    let (secrets, kv, clock) = (Faulty::new(), Faulty::new(), ManualClock::at_epoch());
    let refresher = Gated::new(Ok(grant("a2", Some("r2"), 3600)));
    let m = open(&secrets, &kv, &clock, refresher.clone());
    let s = m.add_server("https://api.example", Some("api"), oidc()).unwrap();
    s.sign_in(ProviderKind::Oidc, grant("a1", Some("r1"), 3600)).unwrap();
    secrets.fail(Fault::Panic, &[Op::Set], 0, usize::MAX);
    refresher.release();
    assert!(matches!(s.refresh().await, Err(SessionError::Storage(_))), "never a plain success");
    assert_eq!(s.valid_access_token().unwrap().expose(), "a2");
    secrets.heal();
    s.sign_in(ProviderKind::Oidc, grant("a3", Some("r3"), 3600)).unwrap();
    assert_eq!(stored_access(&secrets).as_deref(), Some("a3"));
    assert!(!s.persistence_pending());
}

#[tokio::test]
async fn a_sign_in_the_store_refuses_is_active_pending_and_saved_later() {
    let (secrets, kv, clock) = (Faulty::new(), Faulty::new(), ManualClock::at_epoch());
    let m = open(&secrets, &kv, &clock, Arc::new(Scripted::default()));
    let s = m.add_server("https://api.example", Some("api"), oidc()).unwrap();
    kv.fail(Fault::Throw, &[Op::Set], 0, 1);
    assert!(matches!(s.sign_in(ProviderKind::Oidc, grant("a1", Some("r1"), 3600)), Err(SessionError::Storage(_))));
    assert!(s.is_authenticated() && s.persistence_pending());
    s.on_resume().await.unwrap();
    assert!(!s.persistence_pending());
    let again = open(&secrets, &kv, &clock, Arc::new(Scripted::default()));
    assert_eq!(again.session("api").unwrap().state_kind(), StateKind::Active);
}

/// One "process" over file stores in `dir`, whose secret store can be made to refuse writes.
fn file_process(dir: &Path, secrets: &Faulty, clock: &ManualClock, refresher: Arc<dyn Refresher>) -> ServerManager {
    let kv = Arc::new(FileStore::open(dir.join("state.json")).unwrap());
    let config = ManagerConfig::new(Arc::new(secrets.clone()), kv)
        .with_clock(Arc::new(clock.clone()))
        .with_backoff(authstate::refresh::BackoffPolicy { initial: Duration::ZERO, max: Duration::ZERO })
        .with_refreshers(Arc::new(Fixed(refresher)))
        .with_lock_dir(dir)
        .with_tokens_in_lock_dir(true);
    ServerManager::open(config).unwrap()
}

#[tokio::test]
async fn rotated_tokens_survive_a_crash_in_the_journal_when_the_store_refuses_them() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = Faulty::over(Arc::new(FileStore::open(dir.path().join("secrets.json")).unwrap()));
    let clock = ManualClock::at_epoch();
    let refresher = Gated::new(Ok(grant("a2", Some("r2"), 3600)));
    let m = file_process(dir.path(), &secrets, &clock, refresher.clone());
    let s = m.add_server("https://api.example", Some("api"), oidc()).unwrap();
    s.sign_in(ProviderKind::Oidc, grant("a1", Some("r1"), 60)).unwrap();
    clock.advance(Duration::seconds(120));
    secrets.fail(Fault::Throw, &[Op::Set], 0, usize::MAX);
    refresher.release();
    assert_eq!(s.fresh_access_token().await.unwrap().expose(), "a2");
    drop((s, m)); // the process dies with a2/r2 unsaved in the secret store

    let again = file_process(dir.path(), &secrets, &clock, refresher.clone());
    assert_eq!(again.restore_report().recovered_from_journal, ["api"]);
    let s = again.session("api").unwrap();
    assert_eq!(s.state().tokens().unwrap().refresh.as_ref().unwrap().expose(), "r2", "recovered, not r1");
    assert!(s.persistence_pending());
    secrets.heal();
    assert_eq!(s.fresh_access_token().await.unwrap().expose(), "a2");
    s.on_resume().await.unwrap();
    assert!(!s.persistence_pending());
    assert_eq!(stored_access(&secrets).as_deref(), Some("a2"));
    let third = file_process(dir.path(), &secrets, &clock, refresher);
    assert!(third.restore_report().recovered_from_journal.is_empty(), "the journal entry is spent");
}

/// Answers the one refresh `s` starts with `result`, and returns what `s` made of it.
async fn refresh_answered(
    s: &Arc<authstate::ServerSession>,
    refresher: &Scripted,
    result: Result<authstate::TokenGrant, RefreshError>,
) -> Result<String, SessionError> {
    let attempt = tokio::spawn({
        let s = Arc::clone(s);
        async move { s.fresh_access_token().await }
    });
    while refresher.unanswered() == 0 {
        tokio::task::yield_now().await;
    }
    let presented = refresher.answer(0, result);
    assert!(presented.is_some());
    attempt.await.unwrap().map(|t| t.expose().to_owned())
}

#[tokio::test]
async fn journaled_tokens_survive_the_next_refresh_failing_transiently() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = Faulty::over(Arc::new(FileStore::open(dir.path().join("secrets.json")).unwrap()));
    let clock = ManualClock::at_epoch();
    let refresher = Arc::new(Scripted::default());
    let m = file_process(dir.path(), &secrets, &clock, refresher.clone());
    let s = m.add_server("https://api.example", Some("api"), oidc()).unwrap();
    s.sign_in(ProviderKind::Oidc, grant("a1", Some("r1"), 60)).unwrap();
    clock.advance(Duration::seconds(120));
    secrets.fail(Fault::Throw, &[Op::Set], 0, usize::MAX);
    assert_eq!(refresh_answered(&s, &refresher, Ok(grant("a2", Some("r2"), 60))).await.unwrap(), "a2");
    drop((s, m)); // r2 lives only in the journal now

    // The next process recovers r2, presents it, and the server is down.
    let second = file_process(dir.path(), &secrets, &clock, refresher.clone());
    let s = second.session("api").unwrap();
    clock.advance(Duration::seconds(120));
    let transient = Err(RefreshError::Transient { kind: TransientKind::ServerError, retry_after: None });
    assert!(matches!(refresh_answered(&s, &refresher, transient).await, Err(SessionError::TryLater { .. })));
    assert_eq!(refresher.pending.lock().len(), 0);
    drop((s, second)); // dies with r2 still unsaved, its refresh's answer unknown

    let third = file_process(dir.path(), &secrets, &clock, refresher.clone());
    let report = third.restore_report();
    assert_eq!(report.recovered_from_journal, ["api"], "the refreshing entry carried r2");
    assert_eq!(report.interrupted_refreshes, ["api"], "and still says r2 was presented");
    let s = third.session("api").unwrap();
    assert_eq!(s.state().tokens().unwrap().refresh.as_ref().unwrap().expose(), "r2", "never r1 again");
    secrets.heal();
    assert_eq!(refresh_answered(&s, &refresher, Ok(grant("a3", Some("r3"), 3600))).await.unwrap(), "a3");
    assert!(!s.persistence_pending());
    assert_eq!(stored_access(&secrets).as_deref(), Some("a3"));
    let fourth = file_process(dir.path(), &secrets, &clock, refresher);
    assert!(fourth.restore_report().is_clean(), "{:?}", fourth.restore_report());
}

#[test]
fn a_refresh_interrupted_by_a_crash_is_reported_and_named_when_the_server_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = Faulty::over(Arc::new(FileStore::open(dir.path().join("secrets.json")).unwrap()));
    let clock = ManualClock::at_epoch();
    let refresher = Arc::new(Scripted::default());
    // The first process presents r1, then dies before any answer.
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let m = file_process(dir.path(), &secrets, &clock, refresher.clone());
                let s = m.add_server("https://api.example", Some("api"), oidc()).unwrap();
                s.sign_in(ProviderKind::Oidc, grant("a1", Some("r1"), 60)).unwrap();
                clock.advance(Duration::seconds(120));
                let s2 = Arc::clone(&s);
                tokio::spawn(async move { s2.fresh_access_token().await });
                while refresher.unanswered() == 0 {
                    tokio::task::yield_now().await;
                }
            });
            drop(rt); // the kill: its tasks (and the lease) are gone
        });
    });
    refresher.pending.lock().clear();

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let m = file_process(dir.path(), &secrets, &clock, refresher.clone());
        assert_eq!(m.restore_report().interrupted_refreshes, ["api"]);
        let s = m.session("api").unwrap();
        assert_eq!(s.state_kind(), StateKind::Active, "kept: the answer may just have been lost in transit");
        let attempt = tokio::spawn({
            let s = Arc::clone(&s);
            async move { s.fresh_access_token().await }
        });
        while refresher.unanswered() == 0 {
            tokio::task::yield_now().await;
        }
        refresher.answer(0, Err(RefreshError::Rejected { detail: "invalid_grant".into() }));
        assert_eq!(
            attempt.await.unwrap(),
            Err(SessionError::SignInRequired { reason: ExpiryReason::RefreshInterrupted })
        );
        assert_eq!(s.state().expiry_reason(), Some(ExpiryReason::RefreshInterrupted), "not 'server rejected'");
    });
}

#[tokio::test]
async fn a_refresher_that_panics_frees_the_flight_and_the_next_call_works() {
    struct Panics(std::sync::atomic::AtomicBool);
    #[async_trait::async_trait]
    impl Refresher for Panics {
        async fn refresh(
            &self,
            _: &authstate::ServerInfo,
            _: &authstate::Tokens,
        ) -> Result<authstate::TokenGrant, RefreshError> {
            if self.0.swap(false, std::sync::atomic::Ordering::SeqCst) {
                panic!("backend bug");
            }
            Ok(grant("a2", Some("r2"), 3600))
        }
    }
    let (secrets, kv, clock) = (Faulty::new(), Faulty::new(), ManualClock::at_epoch());
    let m = open(&secrets, &kv, &clock, Arc::new(Panics(true.into())));
    let s = m.add_server("https://api.example", Some("api"), oidc()).unwrap();
    s.sign_in(ProviderKind::Oidc, grant("a1", Some("r1"), 60)).unwrap();
    clock.advance(Duration::seconds(120));
    assert_eq!(
        s.fresh_access_token().await,
        Err(SessionError::TryLater { kind: TransientKind::Interrupted, retry_after: None })
    );
    assert!(!s.refresh_in_flight());
    assert_eq!(s.state_kind(), StateKind::Active, "nothing changed");
    assert_eq!(s.fresh_access_token().await.unwrap().expose(), "a2");
}

#[tokio::test]
async fn a_removed_servers_session_hands_out_and_sends_nothing() {
    let (secrets, kv, clock) = (Faulty::new(), Faulty::new(), ManualClock::at_epoch());
    let refresher = Arc::new(Scripted::default());
    let m = open(&secrets, &kv, &clock, refresher.clone());
    let s = m.add_server("https://api.example", Some("api"), oidc()).unwrap();
    s.sign_in(ProviderKind::Oidc, grant("a1", Some("r1"), 3600)).unwrap();
    let epoch = s.work_epoch();
    m.remove_server("api").unwrap();
    assert!(s.is_removed());
    assert_eq!(s.state(), SessionState::NoSession);
    assert_eq!(s.valid_access_token(), None);
    assert_eq!(s.fresh_access_token().await, Err(SessionError::ServerRemoved));
    assert_eq!(s.refresh().await, Err(SessionError::ServerRemoved));
    assert!(s.sign_in(ProviderKind::Oidc, grant("a9", None, 60)).is_err());
    assert_eq!(refresher.calls(), 0, "the refresh token never left");
    assert!(epoch.is_cancelled());
}

#[tokio::test]
async fn contradictory_host_records_are_refused_and_reported() {
    let (secrets, kv, clock) = (Faulty::new(), Faulty::new(), ManualClock::at_epoch());
    let m = open(&secrets, &kv, &clock, Arc::new(Scripted::default()));
    m.add_server("https://api.example", Some("tp"), oidc()).unwrap();
    let record = kv.peek("authstate.server.tp").unwrap();
    // A host store that answers another key's value, and keys twice.
    KeyValueStore::set(&kv, "authstate.server.zz", &record).unwrap();
    let copy = record.replace("\"tp\"", "\"tq\"");
    KeyValueStore::set(&kv, "authstate.server.tq", &copy).unwrap();
    kv.fail(Fault::Garbage, &[Op::Keys], 0, usize::MAX);
    let again = open(&secrets, &kv, &clock, Arc::new(Scripted::default()));
    let aliases: Vec<_> = again.servers().into_iter().map(|s| s.alias.to_string()).collect();
    assert_eq!(aliases, ["tp"], "one server, once");
    let report = again.restore_report();
    let problems: Vec<_> = report.rejected.iter().map(|r| (r.key.as_str(), &r.problem)).collect();
    assert!(
        matches!(
            problems[..],
            [
                ("authstate.server.tq", RecordProblem::DuplicateServer { .. }),
                ("authstate.server.zz", RecordProblem::AliasMismatch(_)),
            ]
        ),
        "{problems:?}"
    );
}

#[tokio::test]
async fn a_panicking_observer_cannot_skip_the_cancellation_of_a_sign_out() {
    let (secrets, kv, clock) = (Faulty::new(), Faulty::new(), ManualClock::at_epoch());
    let m = open(&secrets, &kv, &clock, Arc::new(Scripted::default()));
    let s = m.add_server("https://api.example", Some("api"), oidc()).unwrap();
    s.sign_in(ProviderKind::Oidc, grant("a1", Some("r1"), 3600)).unwrap();
    let _sub = m.subscribe(Arc::new(|_: &authstate::Change| panic!("host observer bug")));
    let work = authstate::CancelToken::new();
    let _registration = s.register(work.clone());
    s.logout().unwrap();
    assert!(work.is_cancelled());
    assert_eq!(s.state(), SessionState::NoSession);
    assert!(secrets.peek(TOKENS).is_none());
}

#[test]
fn a_store_file_moved_aside_is_reported_to_the_host() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("state.json"), b"{\"format\":1,\"entries\":").unwrap();
    let kv = Arc::new(FileStore::open(dir.path().join("state.json")).unwrap());
    let m = ServerManager::open(ManagerConfig::new(Arc::new(MemoryStore::new()), kv)).unwrap();
    let notices = &m.restore_report().notices;
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(!m.restore_report().is_clean());
}

#[test]
fn an_observer_that_adds_a_server_when_one_is_added_does_not_deadlock() {
    let (secrets, kv, clock) = (Faulty::new(), Faulty::new(), ManualClock::at_epoch());
    let m = open(&secrets, &kv, &clock, Arc::new(Scripted::default()));
    let inside = m.clone();
    let added_inside = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = Arc::clone(&added_inside);
    let _sub = m.subscribe(Arc::new(move |change: &authstate::Change| {
        if change.server.as_str().contains("first") && !flag.swap(true, std::sync::atomic::Ordering::SeqCst) {
            inside.add_server("https://second.example", Some("second"), oidc()).unwrap();
        }
    }));
    let (done, finished) = std::sync::mpsc::channel();
    let outer = m.clone();
    std::thread::spawn(move || {
        let _ = done.send(outer.add_server("https://first.example", Some("first"), oidc()).map(|_| ()));
    });
    // A deadlock never finishes; a healthy call finishes in microseconds.
    let result = finished.recv_timeout(std::time::Duration::from_secs(20)).expect("add_server deadlocked");
    result.unwrap();
    assert!(added_inside.load(std::sync::atomic::Ordering::SeqCst));
    let aliases: Vec<_> = m.servers().into_iter().map(|s| s.alias.to_string()).collect();
    assert_eq!(aliases, ["first", "second"]);
}
