// Unit tests of `observe.rs` (included with #[path]).
use super::*;
use crate::ManagerConfig;
use crate::model::{OidcConfig, Provider, Secret, TokenGrant};
use crate::storage::MemoryStore;

fn manager() -> ServerManager {
    ServerManager::open(ManagerConfig::new(Arc::new(MemoryStore::new()), Arc::new(MemoryStore::new()))).unwrap()
}

fn oidc() -> Provider {
    Provider::Oidc(OidcConfig {
        issuer: "https://id.example".into(),
        client_id: "app".into(),
        redirect_uri: "app:/cb".into(),
        scopes: vec![],
    })
}

fn tokens(access: &str) -> TokenGrant {
    TokenGrant { access: Secret::new(access), refresh: None, id_token: None, expires_in: Some(3600) }
}

const ACTIVE: StateView = StateView::Active { provider: ProviderKind::Oidc };

#[tokio::test]
async fn the_first_call_is_the_current_state_at_once() {
    let m = manager();
    let s = m.add_server("https://a.example", Some("a"), oidc()).unwrap();
    s.sign_in(ProviderKind::Oidc, tokens("t1")).unwrap();
    let mut watch = m.watch_state("a").unwrap();
    let first = watch.next().await.unwrap();
    assert_eq!(first, Observation { revision: m.connection_revision(), state: ACTIVE });
}

#[tokio::test]
async fn other_servers_and_new_tokens_are_not_changes() {
    let m = manager();
    let a = m.add_server("https://a.example", Some("a"), oidc()).unwrap();
    let b = m.add_server("https://b.example", Some("b"), oidc()).unwrap();
    a.sign_in(ProviderKind::Oidc, tokens("t1")).unwrap();
    let mut watch = m.watch_state("a").unwrap();
    assert_eq!(watch.next().await.unwrap().state, ACTIVE);
    b.sign_in(ProviderKind::Oidc, tokens("b1")).unwrap();
    a.sign_in(ProviderKind::Oidc, tokens("t2")).unwrap(); // new tokens, same view
    a.mark_expired(ExpiryReason::Marked).unwrap();
    let next = watch.next().await.unwrap();
    assert_eq!(next.state, StateView::Expired { provider: ProviderKind::Oidc, reason: ExpiryReason::Marked });
    assert_eq!(next.revision, m.connection_revision(), "the emission after b's and the refresh is a's expiry");
}

#[tokio::test]
async fn removal_ends_the_watch_after_one_last_no_session() {
    let m = manager();
    let a = m.add_server("https://a.example", Some("a"), oidc()).unwrap();
    a.sign_in(ProviderKind::Oidc, tokens("t1")).unwrap();
    let mut watch = m.watch_state("a").unwrap();
    assert_eq!(watch.next().await.unwrap().state, ACTIVE);
    m.remove_server("a").unwrap();
    assert_eq!(watch.next().await.unwrap().state, StateView::NoSession);
    assert_eq!(watch.next().await, None);
    assert_eq!(watch.next().await, None);

    m.add_server("https://c.example", Some("c"), oidc()).unwrap();
    let mut signed_out = m.watch_state("c").unwrap();
    assert_eq!(signed_out.next().await.unwrap().state, StateView::NoSession);
    m.remove_server("c").unwrap();
    assert_eq!(signed_out.next().await, None, "already NoSession: it just ends");
}

#[tokio::test]
async fn an_unknown_alias_is_refused_at_once() {
    assert!(matches!(manager().watch_state("nope"), Err(ManagerError::UnknownServer(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_thousand_watches_leaves_no_pending_wait() {
    let m = manager();
    m.add_server("https://a.example", Some("a"), oidc()).unwrap();
    let mut cancels = Vec::new();
    let mut tasks = Vec::new();
    for _ in 0..1000 {
        let mut watch = m.watch_state("a").unwrap();
        assert!(watch.next().await.is_some());
        cancels.push(watch.canceller());
        tasks.push(tokio::spawn(async move { watch.next().await }));
    }
    while m.pending_waits() < 1000 {
        tokio::task::yield_now().await;
    }
    for cancel in &cancels {
        cancel.cancel(crate::CancelReason::Caller);
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), None);
    }
    assert_eq!(m.pending_waits(), 0);

    // Dropping a pending wait (what Kotlin and Python do) releases it too.
    let mut revisions = m.watch_revisions();
    assert_eq!(revisions.next().await, Some(m.connection_revision()), "the current revision at once");
    let pending = tokio::spawn(async move { revisions.next().await });
    while m.pending_waits() == 0 {
        tokio::task::yield_now().await;
    }
    pending.abort();
    let _ = pending.await;
    assert_eq!(m.pending_waits(), 0);
}

#[tokio::test]
async fn revisions_start_with_the_current_one_then_follow_changes() {
    let m = manager();
    let mut revisions = m.watch_revisions();
    let first = revisions.next().await.unwrap();
    assert_eq!(first, m.connection_revision());
    m.add_server("https://a.example", Some("a"), oidc()).unwrap();
    assert!(revisions.next().await.unwrap() > first);
    revisions.canceller().cancel(crate::CancelReason::Caller);
    assert_eq!(revisions.next().await, None);
}
