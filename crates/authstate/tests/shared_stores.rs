//! Several managers over one store directory, as several processes would
//! hold them (DESIGN.md invariant 14): each manager has its own file
//! descriptors, so the OS file locks separate them exactly as they separate
//! processes. (`tests/processes.rs` repeats the essentials with real
//! processes.)

mod common;

use std::path::Path;
use std::sync::Arc;

use authstate::storage::FileStore;
use authstate::{
    ManagerConfig, ManualClock, ProviderKind, RefreshError, Refresher, ServerManager, SessionError, SessionState,
    StateKind, TransientKind,
};
use common::{Fixed, Gated, Scripted, grant, oidc};
use time::Duration;

/// One "process": a manager over the directory's file stores, sharing it.
fn process(dir: &Path, clock: &ManualClock, refresher: Arc<dyn Refresher>) -> ServerManager {
    let secrets = Arc::new(FileStore::open(dir.join("secrets.json")).unwrap());
    let kv = Arc::new(FileStore::open(dir.join("state.json")).unwrap());
    let config = ManagerConfig::new(secrets, kv)
        .with_clock(Arc::new(clock.clone()))
        .with_backoff(authstate::refresh::BackoffPolicy { initial: Duration::ZERO, max: Duration::ZERO })
        .with_refreshers(Arc::new(Fixed(refresher)))
        .with_lock_dir(dir)
        .with_tokens_in_lock_dir(true);
    ServerManager::open(config).unwrap()
}

fn access(state: &SessionState) -> Option<String> {
    state.tokens().map(|t| t.access.expose().to_owned())
}

#[tokio::test]
async fn a_sign_in_in_one_process_is_used_by_the_other_at_its_next_read() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_epoch();
    let refresher = Arc::new(Scripted::default());
    let a = process(dir.path(), &clock, refresher.clone());
    let b = process(dir.path(), &clock, refresher.clone());
    a.add_server("https://api.example", Some("api"), oidc()).unwrap();
    let in_b = b.session("api").expect("b finds the server a added");
    assert_eq!(in_b.state_kind(), StateKind::NoSession);

    a.session("api").unwrap().sign_in(ProviderKind::Oidc, grant("a1", Some("r1"), 3600)).unwrap();
    assert_eq!(in_b.valid_access_token(), None, "the fast path never hands out a token it has not re-read");
    assert_eq!(in_b.fresh_access_token().await.unwrap().expose(), "a1");
    assert_eq!(in_b.valid_access_token().unwrap().expose(), "a1", "caught up: the fast path works again");
    assert_eq!(refresher.calls(), 0);
}

#[tokio::test]
async fn a_sign_out_in_one_process_stops_the_other_from_handing_out_its_token() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_epoch();
    let refresher = Arc::new(Scripted::default());
    let a = process(dir.path(), &clock, refresher.clone());
    let in_a = a.add_server("https://api.example", Some("api"), oidc()).unwrap();
    in_a.sign_in(ProviderKind::Oidc, grant("a1", Some("r1"), 3600)).unwrap();
    let b = process(dir.path(), &clock, refresher.clone());
    let in_b = b.session("api").unwrap();
    assert_eq!(in_b.valid_access_token().unwrap().expose(), "a1");
    let epoch = in_b.work_epoch();
    let seen = b.connection_revision();

    in_a.logout().unwrap();
    assert_eq!(in_b.valid_access_token(), None);
    assert_eq!(in_b.fresh_access_token().await, Err(SessionError::SignedOut));
    assert_eq!(in_b.state(), SessionState::NoSession);
    assert!(epoch.is_cancelled(), "b's work for the session is cancelled too");
    assert!(b.connection_revision() > seen, "b's observers are told");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_needing_a_refresh_make_one_request() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_epoch();
    let refresher = Gated::new(Ok(grant("a2", Some("r2"), 3600)));
    let a = process(dir.path(), &clock, refresher.clone());
    a.add_server("https://api.example", Some("api"), oidc())
        .unwrap()
        .sign_in(ProviderKind::Oidc, grant("a1", Some("r1"), 60))
        .unwrap();
    let b = process(dir.path(), &clock, refresher.clone());
    clock.advance(Duration::seconds(120));

    let (sa, sb) = (a.session("api").unwrap(), b.session("api").unwrap());
    let ta = tokio::spawn(async move { sa.fresh_access_token().await });
    let tb = tokio::spawn(async move { sb.fresh_access_token().await });
    while refresher.calls() == 0 {
        tokio::task::yield_now().await;
    }
    // The second process waits on the lease; give it time to (wrongly) ask too.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(refresher.calls(), 1, "one process holds the lease, the other waits");
    refresher.release();
    assert_eq!(ta.await.unwrap().unwrap().expose(), "a2");
    assert_eq!(tb.await.unwrap().unwrap().expose(), "a2", "the waiter adopted the stored tokens");
    assert_eq!(refresher.calls(), 1);
}

#[tokio::test]
async fn a_refresh_result_never_undoes_another_process_sign_out() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_epoch();
    let refresher = Arc::new(Scripted::default());
    let a = process(dir.path(), &clock, refresher.clone());
    let in_a = a.add_server("https://api.example", Some("api"), oidc()).unwrap();
    in_a.sign_in(ProviderKind::Oidc, grant("a1", Some("r1"), 3600)).unwrap();
    let b = process(dir.path(), &clock, refresher.clone());
    let in_b = b.session("api").unwrap();

    let refreshing = tokio::spawn({
        let in_a = Arc::clone(&in_a);
        async move { in_a.refresh().await }
    });
    while refresher.unanswered() == 0 {
        tokio::task::yield_now().await;
    }
    in_b.logout().unwrap();
    refresher.answer(0, Ok(grant("a2", Some("r2"), 3600)));
    let _ = refreshing.await.unwrap();
    assert_eq!(in_a.state(), SessionState::NoSession, "a's late refresh result is discarded");
    let again = process(dir.path(), &clock, refresher.clone());
    assert_eq!(again.session("api").unwrap().state(), SessionState::NoSession, "and nothing was written back");
}

#[tokio::test]
async fn servers_added_and_removed_elsewhere_are_followed() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_epoch();
    let refresher = Arc::new(Scripted::default());
    let a = process(dir.path(), &clock, refresher.clone());
    let b = process(dir.path(), &clock, refresher.clone());
    a.add_server("https://api.example", Some("api"), oidc()).unwrap();
    b.add_server("https://notes.example", Some("notes"), oidc()).unwrap();
    assert!(
        matches!(
            a.add_server("https://notes.example", Some("other"), oidc()),
            Err(authstate::ManagerError::DuplicateServer(..))
        ),
        "a sees b's server before adding"
    );
    a.catch_up();
    let names = |m: &ServerManager| m.servers().into_iter().map(|s| s.alias.to_string()).collect::<Vec<_>>();
    assert_eq!(names(&a), ["api", "notes"]);
    let held = b.session("api").unwrap();
    held.sign_in(ProviderKind::Oidc, grant("b1", None, 3600)).unwrap();
    a.remove_server("api").unwrap();
    b.catch_up();
    assert_eq!(names(&b), ["notes"]);
    assert!(held.is_removed());
    assert_eq!(held.valid_access_token(), None);
}

#[tokio::test]
async fn many_processes_adding_at_once_lose_no_server() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_epoch();
    let refresher: Arc<dyn Refresher> = Arc::new(Scripted::default());
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let (dir, clock, refresher) = (dir.path().to_owned(), clock.clone(), Arc::clone(&refresher));
            std::thread::spawn(move || {
                let m = process(&dir, &clock, refresher);
                for n in 0..5 {
                    let s =
                        m.add_server(&format!("https://s{i}-{n}.example"), Some(&format!("s{i}-{n}")), oidc()).unwrap();
                    s.sign_in(ProviderKind::Oidc, grant(&format!("a{i}-{n}"), None, 3600)).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let m = process(dir.path(), &clock, refresher);
    assert_eq!(m.servers().len(), 40);
    for s in m.sessions() {
        assert_eq!(access(&s.state()), Some(format!("a{}", &s.info().alias.as_str()[1..])));
    }
}

#[tokio::test]
async fn a_transient_failure_with_shared_stores_keeps_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at_epoch();
    let refresher = Gated::new(Err(RefreshError::transient(TransientKind::ServerError)));
    let a = process(dir.path(), &clock, refresher.clone());
    a.add_server("https://api.example", Some("api"), oidc())
        .unwrap()
        .sign_in(ProviderKind::Oidc, grant("a1", Some("r1"), 60))
        .unwrap();
    clock.advance(Duration::seconds(120));
    let s = a.session("api").unwrap();
    let t = tokio::spawn(async move { s.fresh_access_token().await });
    while refresher.calls() == 0 {
        tokio::task::yield_now().await;
    }
    refresher.release();
    assert!(matches!(t.await.unwrap(), Err(SessionError::TryLater { .. })));
    assert_eq!(a.session("api").unwrap().state_kind(), StateKind::Active, "tokens kept");
}
