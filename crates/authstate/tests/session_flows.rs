//! Session behaviour through the public API: single-flight refresh under load,
//! cancellation, logout during refresh, 401/403 handling, backoff, storage
//! failures, observation. Refreshers are test doubles the test answers by hand.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use authstate::cancel::CancelToken;
use authstate::machine::Verdict;
use authstate::storage::SecretStore;
use authstate::{
    CancelReason, Change, ExpiryReason, ProviderKind, RefreshError, SessionError, SessionState, StateKind,
    TransientKind,
};
use common::{Gated, Scripted, grant, harness, oidc, reopen};
use time::Duration;

async fn settle() {
    for _ in 0..64 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_callers_on_an_expired_token_cause_one_refresh() {
    let refresher = Gated::new(Ok(grant("fresh", Some("r2"), 3600)));
    let h = harness(refresher.clone());
    let s = h.manager.add_server("https://api.example", Some("api"), oidc()).unwrap();
    s.sign_in(ProviderKind::Oidc, grant("old", Some("r1"), 60)).unwrap();
    h.clock.advance(Duration::seconds(120)); // expired

    let started = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..1000 {
        let s = Arc::clone(&s);
        let started = Arc::clone(&started);
        tasks.push(tokio::spawn(async move {
            started.fetch_add(1, Ordering::SeqCst);
            s.fresh_access_token().await
        }));
    }
    while started.load(Ordering::SeqCst) < 1000 || refresher.calls() == 0 {
        tokio::task::yield_now().await;
    }
    settle().await;
    refresher.release();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().expose(), "fresh");
    }
    assert_eq!(refresher.calls(), 1);
    assert!(!s.refresh_in_flight());
}

#[tokio::test]
async fn a_caller_cancelled_mid_refresh_does_not_abort_the_refresh() {
    let refresher = Gated::new(Ok(grant("fresh", Some("r2"), 3600)));
    let h = harness(refresher.clone());
    let s = h.manager.add_server("https://api.example", Some("api"), oidc()).unwrap();
    s.sign_in(ProviderKind::Oidc, grant("old", Some("r1"), 60)).unwrap();
    h.clock.advance(Duration::seconds(120));

    let cancel = CancelToken::new();
    let s2 = Arc::clone(&s);
    let c2 = cancel.clone();
    let caller = tokio::spawn(async move { s2.fresh_access_token_with(Some(&c2)).await });
    settle().await;
    assert_eq!(refresher.calls(), 1);
    cancel.cancel(CancelReason::Caller);
    assert_eq!(caller.await.unwrap(), Err(SessionError::Cancelled(CancelReason::Caller)));
    assert!(s.refresh_in_flight());

    refresher.release();
    settle().await;
    assert_eq!(s.valid_access_token().map(|t| t.expose().to_owned()).as_deref(), Some("fresh"));
    // The rotated refresh token was persisted, not lost with the caller.
    let stored = SecretStore::get(&h.secrets, "authstate.tokens.api").unwrap();
    assert!(stored.contains("r2"));
}

#[tokio::test]
async fn logout_during_refresh_is_not_undone() {
    let refresher = Gated::new(Ok(grant("fresh", Some("r2"), 3600)));
    let h = harness(refresher.clone());
    let s = h.manager.add_server("https://api.example", Some("api"), oidc()).unwrap();
    s.sign_in(ProviderKind::Oidc, grant("old", Some("r1"), 60)).unwrap();
    let s2 = Arc::clone(&s);
    let refresh = tokio::spawn(async move { s2.refresh().await });
    settle().await;
    s.logout().unwrap();
    refresher.release();
    let _ = refresh.await.unwrap();
    assert_eq!(s.state(), SessionState::NoSession);
    assert!(SecretStore::get(&h.secrets, "authstate.tokens.api").is_err());
    let reopened = reopen(&h.secrets, &h.kv, &h.clock, refresher);
    assert_eq!(reopened.session("api").unwrap().state(), SessionState::NoSession);
}

#[tokio::test]
async fn transient_failure_keeps_tokens_and_serves_a_still_valid_token() {
    let refresher = Arc::new(Scripted::default());
    let h = harness(refresher.clone());
    let s = h.manager.add_server("https://api.example", Some("api"), oidc()).unwrap();
    s.sign_in(ProviderKind::Oidc, grant("old", Some("r1"), 600)).unwrap();
    h.clock.advance(Duration::seconds(400)); // within the 300 s threshold, not expired
    let s2 = Arc::clone(&s);
    let caller = tokio::spawn(async move { s2.fresh_access_token().await });
    settle().await;
    refresher.answer(0, Err(RefreshError::transient(TransientKind::ServerError)));
    assert_eq!(caller.await.unwrap().unwrap().expose(), "old");
    assert!(s.is_authenticated());

    h.clock.advance(Duration::seconds(300)); // now expired
    let s2 = Arc::clone(&s);
    let caller = tokio::spawn(async move { s2.fresh_access_token().await });
    settle().await;
    refresher.answer(0, Err(RefreshError::Transient { kind: TransientKind::RateLimited, retry_after: None }));
    assert!(matches!(caller.await.unwrap(), Err(SessionError::TryLater { kind: TransientKind::RateLimited, .. })));
    assert!(s.is_authenticated(), "a transient failure never expires the session");
    assert!(SecretStore::get(&h.secrets, "authstate.tokens.api").is_ok());
}

#[tokio::test]
async fn definitive_failure_expires_keeps_tokens_and_is_not_retried() {
    let refresher = Arc::new(Scripted::default());
    let h = harness(refresher.clone());
    let s = h.manager.add_server("https://api.example", Some("api"), oidc()).unwrap();
    s.sign_in(ProviderKind::Oidc, grant("old", Some("r1"), 60)).unwrap();
    h.clock.advance(Duration::seconds(120));
    let s2 = Arc::clone(&s);
    let caller = tokio::spawn(async move { s2.fresh_access_token().await });
    settle().await;
    refresher.answer(0, Err(RefreshError::Rejected { detail: "invalid_grant".into() }));
    assert_eq!(caller.await.unwrap(), Err(SessionError::SignInRequired { reason: ExpiryReason::RefreshRejected }));
    let SessionState::Expired { tokens, reason, .. } = s.state() else { panic!("not expired") };
    assert_eq!(reason, ExpiryReason::RefreshRejected);
    assert_eq!(tokens.refresh.unwrap().expose(), "r1");
    // The rejected refresh token is not presented again.
    assert!(s.fresh_access_token().await.is_err());
    assert_eq!(refresher.calls(), 1);
    // A new login revives the session.
    s.sign_in(ProviderKind::Oidc, grant("new", Some("r9"), 3600)).unwrap();
    assert_eq!(s.fresh_access_token().await.unwrap().expose(), "new");
}

#[tokio::test]
async fn backoff_holds_requests_until_the_clock_passes_it() {
    let refresher = Arc::new(Scripted::default());
    let h = harness(refresher.clone());
    let config = authstate::ManagerConfig::new(Arc::new(h.secrets.clone()), Arc::new(h.kv.clone()))
        .with_clock(Arc::new(h.clock.clone()))
        .with_refreshers(Arc::new(common::Fixed(refresher.clone())));
    let manager = authstate::ServerManager::open(config).unwrap();
    let s = manager.add_server("https://api.example", Some("api"), oidc()).unwrap();
    s.sign_in(ProviderKind::Oidc, grant("old", Some("r1"), 60)).unwrap();
    h.clock.advance(Duration::seconds(120));
    let s2 = Arc::clone(&s);
    let caller = tokio::spawn(async move { s2.refresh().await });
    settle().await;
    refresher.answer(
        0,
        Err(RefreshError::Transient { kind: TransientKind::RateLimited, retry_after: Some(Duration::seconds(30)) }),
    );
    let Err(SessionError::TryLater { retry_after: Some(wait), .. }) = caller.await.unwrap() else { panic!() };
    assert!(wait >= Duration::seconds(30));
    assert!(matches!(s.refresh().await, Err(SessionError::TryLater { .. })));
    assert_eq!(refresher.calls(), 1, "no request inside the backoff window");
    h.clock.advance(wait);
    let s2 = Arc::clone(&s);
    let caller = tokio::spawn(async move { s2.refresh().await });
    settle().await;
    assert_eq!(refresher.calls(), 2);
    refresher.answer(0, Ok(grant("fresh", None, 3600)));
    caller.await.unwrap().unwrap();
    let SessionState::Active { tokens, .. } = s.state() else { panic!() };
    assert_eq!(tokens.refresh.unwrap().expose(), "r1", "no rotation keeps the old refresh token");
}

#[tokio::test]
async fn a_401_refreshes_once_and_a_stale_401_does_not_refresh_twice() {
    let refresher = Arc::new(Scripted::default());
    let h = harness(refresher.clone());
    let s = h.manager.add_server("https://api.example", Some("api"), oidc()).unwrap();
    s.sign_in(ProviderKind::Oidc, grant("a1", Some("r1"), 3600)).unwrap();
    let s2 = Arc::clone(&s);
    let retry = tokio::spawn(async move { s2.recover_from_401("a1").await });
    settle().await;
    refresher.answer(0, Ok(grant("a2", Some("r2"), 3600)));
    assert_eq!(retry.await.unwrap().unwrap().expose(), "a2");
    // A request that was in flight with a1 comes back 401 late: retry with a2, no refresh.
    assert_eq!(s.recover_from_401("a1").await.unwrap().expose(), "a2");
    assert_eq!(refresher.calls(), 1);
}

#[tokio::test]
async fn a_403_never_refreshes_or_changes_state() {
    let refresher = Arc::new(Scripted::default());
    let h = harness(refresher.clone());
    let s = h.manager.add_server("https://api.example", Some("api"), oidc()).unwrap();
    s.sign_in(ProviderKind::Oidc, grant("a1", Some("r1"), 3600)).unwrap();
    let before = (s.state(), h.manager.connection_revision());
    assert_eq!(s.on_forbidden(), Verdict::PermissionDenied);
    assert_eq!((s.state(), h.manager.connection_revision()), before);
    assert_eq!(refresher.calls(), 0);
}

#[tokio::test]
async fn leaving_active_cancels_registered_work_with_a_reason() {
    let h = harness(Arc::new(Scripted::default()));
    let s = h.manager.add_server("https://api.example", Some("api"), oidc()).unwrap();
    s.sign_in(ProviderKind::Oidc, grant("a1", None, 3600)).unwrap();
    let upload = CancelToken::new();
    let _reg = s.register(upload.clone());
    s.mark_expired(ExpiryReason::Marked).unwrap();
    assert_eq!(upload.reason(), Some(CancelReason::AuthExpired));
    s.sign_in(ProviderKind::Oidc, grant("a2", None, 3600)).unwrap();
    let download = CancelToken::new();
    let _reg = s.register(download.clone());
    s.logout().unwrap();
    assert_eq!(download.reason(), Some(CancelReason::SignedOut));
}

#[tokio::test]
async fn proactive_refresh_on_resume() {
    let refresher = Arc::new(Scripted::default());
    let h = harness(refresher.clone());
    let s = h.manager.add_server("https://api.example", Some("api"), oidc()).unwrap();
    s.sign_in(ProviderKind::Oidc, grant("a1", Some("r1"), 3600)).unwrap();
    let m = h.manager.clone();
    m.on_resume().await;
    assert_eq!(refresher.calls(), 0, "nothing to do an hour before expiry");
    h.clock.advance(Duration::seconds(3600 - 299));
    let resume = tokio::spawn(async move { m.on_resume().await });
    settle().await;
    assert_eq!(refresher.calls(), 1);
    refresher.answer(0, Ok(grant("a2", Some("r2"), 3600)));
    resume.await.unwrap();
    assert_eq!(s.valid_access_token().unwrap().expose(), "a2");
}

#[tokio::test]
async fn missing_refresh_token_expires_only_once_the_token_is_expired() {
    let h = harness(Arc::new(Scripted::default()));
    let s = h.manager.add_server("https://api.example", Some("api"), oidc()).unwrap();
    s.sign_in(ProviderKind::Oidc, grant("a1", None, 600)).unwrap();
    h.clock.advance(Duration::seconds(400));
    assert_eq!(s.fresh_access_token().await.unwrap().expose(), "a1");
    h.clock.advance(Duration::seconds(200));
    assert_eq!(
        s.fresh_access_token().await,
        Err(SessionError::SignInRequired { reason: ExpiryReason::NoRefreshToken })
    );
    assert_eq!(s.state_kind(), StateKind::Expired);
}

#[tokio::test]
async fn unavailable_storage_never_loses_or_drops_a_session() {
    let h = harness(Arc::new(Scripted::default()));
    let s = h.manager.add_server("https://api.example", Some("api"), oidc()).unwrap();
    s.sign_in(ProviderKind::Oidc, grant("a1", Some("r1"), 3600)).unwrap();
    h.secrets.set_unavailable(true);
    h.kv.set_unavailable(true);
    assert!(matches!(s.mark_expired(ExpiryReason::Marked), Err(SessionError::Storage(_))));
    assert_eq!(s.state_kind(), StateKind::Expired, "kept in memory");
    let reopened = authstate::ServerManager::open(authstate::ManagerConfig::new(
        Arc::new(h.secrets.clone()),
        Arc::new(h.kv.clone()),
    ));
    assert!(matches!(reopened, Err(authstate::ManagerError::Storage(_))), "locked store is an error, not empty");
    h.secrets.set_unavailable(false);
    h.kv.set_unavailable(false);
    let reopened = reopen(&h.secrets, &h.kv, &h.clock, Arc::new(Scripted::default()));
    assert_eq!(reopened.session("api").unwrap().state_kind(), StateKind::Active, "last persisted state");
}

#[tokio::test]
async fn revision_moves_after_every_change_and_changed_resolves() {
    let h = harness(Arc::new(Scripted::default()));
    let seen = Arc::new(parking_lot::Mutex::new(Vec::<Change>::new()));
    let seen2 = Arc::clone(&seen);
    let sub = h.manager.subscribe(Arc::new(move |c: &Change| seen2.lock().push(c.clone())));
    let r0 = h.manager.connection_revision();
    let m = h.manager.clone();
    let waiter = tokio::spawn(async move { m.changed(r0).await });
    let s = h.manager.add_server("https://api.example", Some("api"), oidc()).unwrap();
    assert_eq!(waiter.await.unwrap(), r0 + 1);
    s.sign_in(ProviderKind::Oidc, grant("a1", Some("r1"), 3600)).unwrap();
    s.logout().unwrap();
    s.logout().unwrap(); // no change, no bump
    assert_eq!(h.manager.connection_revision(), r0 + 3);
    let states: Vec<_> = seen.lock().iter().map(|c| (c.revision, c.state)).collect();
    assert_eq!(
        states,
        vec![(r0 + 1, StateKind::NoSession), (r0 + 2, StateKind::Active), (r0 + 3, StateKind::NoSession)]
    );
    drop(sub);
    h.manager.remove_server("api").unwrap();
    assert_eq!(h.manager.connection_revision(), r0 + 4);
    assert_eq!(seen.lock().len(), 3, "unsubscribed on drop");
    assert!(matches!(s.sign_in(ProviderKind::Oidc, grant("x", None, 1)), Err(SessionError::ServerRemoved)));
}

#[tokio::test]
async fn manager_rejects_duplicates_and_bad_input_with_typed_errors() {
    let h = harness(Arc::new(Scripted::default()));
    h.manager.add_server("https://api.example", Some("api"), oidc()).unwrap();
    assert!(matches!(
        h.manager.add_server("https://API.example/", Some("other"), oidc()),
        Err(authstate::ManagerError::DuplicateServer(..))
    ));
    assert!(matches!(
        h.manager.add_server("https://b.example", Some("api"), oidc()),
        Err(authstate::ManagerError::DuplicateAlias(_))
    ));
    assert!(matches!(h.manager.add_server("nope", None, oidc()), Err(authstate::ManagerError::InvalidInput(_))));
    assert!(matches!(h.manager.remove_server("ghost"), Err(authstate::ManagerError::UnknownServer(_))));
    let two = h.manager.add_server("https://www.notes.example", None, oidc()).unwrap();
    assert_eq!(two.info().alias.as_str(), "notes");
    assert!(!h.manager.any_authenticated());
    two.sign_in(ProviderKind::Oidc, grant("a", None, 60)).unwrap();
    assert!(h.manager.any_authenticated());
    assert_eq!(
        h.manager.guard("/s/api/x", Some("api"), false),
        authstate::GuardDecision::Redirect {
            to: "/?server=https%3A%2F%2Fapi.example%2F&returnTo=%2Fs%2Fapi%2Fx".into()
        }
    );
    assert_eq!(h.manager.guard("/s/notes/x", Some("notes"), false), authstate::GuardDecision::Allow);
}
