//! The TokenPair backend against a real Django REST framework server with
//! djangorestframework-simplejwt (rotation and blacklist on), started by the
//! harness on 127.0.0.1: credentials login, refresh in both request shapes,
//! shape mismatches reported as configuration errors, rotation reuse, 401
//! recovery and the refresh storm, no anonymous fallback, logout, an outage.
//!
//! Where a test waits in real time it is for the server's own clock (access
//! tokens expire there, with no leeway), by polling the server; the client's
//! clock is a ManualClock.

mod common;

use std::time::{Duration as StdDuration, Instant};

use authstate::model::RefreshRequestShape;
use authstate::{
    ExpiryReason, FailureReason, LoginError, ProviderKind, RevocationOutcome, Secret, SessionError, SessionState,
    StateKind, TokenGrant, Tokens, TransientKind,
};
use common::devices::{API, Device, PASSWORD, simplejwt, token_pair};
use common::django_peer::{DjangoOptions, DjangoPeer, http_client};
use serde_json::json;

async fn peer(access_ttl_secs: u64) -> Option<DjangoPeer> {
    let peer = DjangoPeer::start(DjangoOptions { access_ttl_secs, ..DjangoOptions::default() }).await?;
    peer.create_user("alice", PASSWORD).await;
    Some(peer)
}

fn grant_of(tokens: &Tokens) -> TokenGrant {
    TokenGrant { access: tokens.access.clone(), refresh: tokens.refresh.clone(), id_token: None, expires_in: None }
}

/// What the server answers to a refresh with `refresh` as a JSON body.
async fn raw_refresh(peer: &DjangoPeer, refresh: &Secret) -> (u16, String) {
    let response = http_client()
        .post(peer.url("api/token/refresh/"))
        .json(&json!({ "refresh": refresh.expose() }))
        .send()
        .await
        .expect("POST api/token/refresh/");
    (response.status().as_u16(), response.text().await.unwrap_or_default())
}

/// Waits until the server refuses `access` (its own clock passed the expiry).
async fn until_expired_at_server(peer: &DjangoPeer, access: &str) {
    let deadline = Instant::now() + StdDuration::from_secs(15);
    loop {
        let status = http_client().get(peer.url("api/me/")).bearer_auth(access).send().await.expect("GET me").status();
        if status == 401 {
            return;
        }
        assert!(Instant::now() < deadline, "the server still accepts the access token");
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_login_makes_the_session_active_and_refused_ones_change_nothing() {
    let Some(peer) = peer(300).await else { return };
    let device = Device::new(&peer.base_url(), simplejwt());

    let wrong = device.auth.sign_in_with_password(API, "alice", &Secret::new("hunter2-not-it"), None).await;
    let Err(LoginError::InvalidCredentials(detail)) = &wrong else { panic!("{wrong:?}") };
    assert!(detail.starts_with("401"), "{detail}");
    assert!(!format!("{wrong:?}").contains("hunter2"), "the password leaked: {wrong:?}");
    assert_eq!(device.session.state_kind(), StateKind::NoSession);

    let outcome = device.login("alice").await;
    assert!(outcome.persisted && outcome.device.is_none());
    assert!(device.session.is_authenticated());
    let tokens = device.tokens();
    assert!(tokens.refresh.is_some());
    // The lifetime comes from the JWT (exp - iat), dated by the device clock.
    // simplejwt dates `exp` from the refresh token's clock reading and `iat`
    // from the access token's own, a moment later: across a second boundary
    // the span is 299 s.
    let lifetime = tokens.expires_at.map(|at| (at - tokens.received_at).whole_seconds());
    assert!(matches!(lifetime, Some(299 | 300)), "{lifetime:?}");
    let me = device.api().send(device.api().get(peer.url("api/me/"))).await.expect("GET me");
    assert_eq!(me.json::<serde_json::Value>().await.expect("JSON")["username"], "alice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_rotates_in_either_request_shape_and_blacklists_the_old_token() {
    let Some(peer) = peer(300).await else { return };
    let shapes = [
        ("api/token/refresh/", RefreshRequestShape::JsonBody { field: "refresh".into() }),
        ("api/token/refresh-bearer/", RefreshRequestShape::BearerHeader),
    ];
    for (path, shape) in shapes {
        let device = Device::new(&peer.base_url(), token_pair(path, shape.clone()));
        device.login("alice").await;
        let before = device.tokens();
        peer.reset_counts().await;

        device.session.refresh().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        let after = device.tokens();
        assert_ne!(after.access, before.access, "{path}");
        assert_ne!(after.refresh, before.refresh, "{path}: rotation issues a new refresh token");
        assert_eq!(peer.counts().await.jwt_refresh, 1, "{path}");

        let (status, body) = raw_refresh(&peer, before.refresh.as_ref().expect("refresh token")).await;
        assert_eq!((status, body.contains("blacklisted")), (401, true), "{path}: {body}");
        device.api().send(device.api().get(peer.url("api/me/"))).await.expect("the new access token works");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_shape_mismatch_is_a_configuration_error_not_a_silent_failure() {
    let Some(peer) = peer(300).await else { return };
    // The seed-002 mismatches: a header where a body field is expected, a
    // body where a FastAPI-style query parameter is expected (422), and a
    // body where the header is expected.
    let cases = [
        ("api/token/refresh/", RefreshRequestShape::BearerHeader, "400"),
        ("api/token/refresh-query/", RefreshRequestShape::JsonBody { field: "refresh".into() }, "422"),
        ("api/token/refresh-bearer/", RefreshRequestShape::JsonBody { field: "refresh".into() }, ""),
    ];
    for (path, shape, status) in cases {
        let device = Device::new(&peer.base_url(), token_pair(path, shape));
        device.login("alice").await;
        let held = device.tokens();

        let error = device.session.refresh().await.expect_err("a mismatched refresh cannot succeed");
        let SessionError::Configuration(detail) = &error else { panic!("{path}: {error:?}") };
        assert!(detail.contains(path) && detail.contains(status), "{path}: {detail}");
        assert!(!detail.contains(held.refresh.as_ref().expect("refresh").expose()), "{path}: token in {detail}");
        match device.session.state() {
            SessionState::Expired { reason: ExpiryReason::Misconfigured, tokens, .. } => assert_eq!(tokens, held),
            other => panic!("{path}: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reuse_of_a_rotated_refresh_token_expires_the_session_with_tokens_kept() {
    let Some(peer) = peer(300).await else { return };
    let phone = Device::new(&peer.base_url(), simplejwt());
    phone.login("alice").await;
    // A second install restored from a backup of the phone: the same tokens.
    let restored = Device::new(&peer.base_url(), simplejwt());
    restored.session.sign_in(ProviderKind::TokenPair, grant_of(&phone.tokens())).expect("restore");

    phone.session.refresh().await.expect("the phone rotates");
    let held = restored.tokens();
    let error = restored.session.refresh().await.expect_err("a blacklisted refresh token");
    assert_eq!(error, SessionError::SignInRequired { reason: ExpiryReason::RefreshRejected });
    match restored.session.state() {
        SessionState::Expired { reason: ExpiryReason::RefreshRejected, tokens, .. } => assert_eq!(tokens, held),
        other => panic!("{other:?}"),
    }
    // simplejwt revokes no family: the phone's newer token still refreshes.
    phone.session.refresh().await.expect("the newer refresh token is still good");
    // Signing in again revives the restored install.
    restored.login("alice").await;
    assert!(restored.session.is_authenticated());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_401s_for_an_expired_access_token_cause_one_refresh_and_each_request_is_retried() {
    // 3 s tokens: the refreshed token must outlive 50 retries on a busy machine.
    let Some(peer) = peer(3).await else { return };
    let device = Device::new(&peer.base_url(), simplejwt());
    device.login("alice").await;
    // The device clock stands still, so only the server knows the token expired.
    until_expired_at_server(&peer, &device.access()).await;
    peer.reset_counts().await;

    let api = device.api();
    let requests = (0..50).map(|_| {
        let api = api.clone();
        let url = peer.url("api/me/");
        tokio::spawn(async move { api.send(api.get(url)).await.map(|r| r.status().as_u16()) })
    });
    for outcome in futures_util::future::join_all(requests).await {
        assert_eq!(outcome.expect("task").expect("request"), 200);
    }
    let counts = peer.counts().await;
    assert_eq!(counts.jwt_refresh, 1, "{counts:?}");
    assert_eq!(counts.me, 100, "each request is sent once, then retried once: {counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_callers_at_expiry_cause_one_refresh_request() {
    let Some(peer) = peer(300).await else { return };
    let device = Device::new(&peer.base_url(), simplejwt());
    device.login("alice").await;
    let old = device.access();
    device.advance(301);
    peer.reset_counts().await;

    let callers = (0..1000).map(|_| {
        let session = device.session.clone();
        tokio::spawn(async move { session.fresh_access_token().await })
    });
    let tokens: Vec<_> = futures_util::future::join_all(callers)
        .await
        .into_iter()
        .map(|joined| joined.expect("task").expect("fresh token").expose().to_owned())
        .collect();
    assert!(tokens.iter().all(|t| *t == tokens[0] && *t != old), "every caller gets the one new token");
    assert_eq!(peer.counts().await.jwt_refresh, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_refresh_never_falls_back_to_an_anonymous_request() {
    let Some(peer) = peer(1).await else { return };
    let device = Device::new(&peer.base_url(), simplejwt());
    device.login("alice").await;
    let held = device.tokens();
    // An admin blacklists the refresh token; then the access token runs out.
    let blacklist = http_client()
        .post(peer.url("api/token/blacklist/"))
        .json(&json!({ "refresh": held.refresh.as_ref().expect("refresh").expose() }))
        .send()
        .await
        .expect("POST blacklist");
    assert_eq!(blacklist.status(), 200);
    until_expired_at_server(&peer, held.access.expose()).await;
    peer.reset_counts().await;

    let failure = device.api().send(device.api().get(peer.url("api/me/"))).await.expect_err("no identity left");
    assert_eq!(failure.reason, FailureReason::AuthExpired);
    let counts = peer.counts().await;
    // One request with the expired token, one refused refresh, and no second,
    // token-less attempt at the resource.
    assert_eq!((counts.me, counts.jwt_refresh, counts.jwt_login), (1, 1, 0), "{counts:?}");
    match device.session.state() {
        SessionState::Expired { reason: ExpiryReason::RefreshRejected, tokens, .. } => assert_eq!(tokens, held),
        other => panic!("{other:?}"),
    }
    assert!(matches!(device.session.fresh_access_token().await, Err(SessionError::SignInRequired { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_blacklists_the_refresh_token_and_deletes_it_here() {
    let Some(peer) = peer(300).await else { return };
    let device = Device::new(&peer.base_url(), simplejwt());
    device.login("alice").await;
    let refresh = device.tokens().refresh.expect("refresh token");
    peer.reset_counts().await;

    let report = device.auth.sign_out(API).await.expect("sign out");
    assert_eq!(report.revocation, RevocationOutcome::Revoked);
    assert_eq!(device.session.state_kind(), StateKind::NoSession);
    assert!(device.secrets.is_empty(), "no token is left on the device");
    assert_eq!(peer.counts().await.jwt_blacklist, 1);
    let (status, body) = raw_refresh(&peer, &refresh).await;
    assert_eq!((status, body.contains("blacklisted")), (401, true), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_signs_out_locally_when_the_server_cannot_be_reached() {
    let Some(mut peer) = peer(300).await else { return };
    let device = Device::new(&peer.base_url(), simplejwt());
    device.login("alice").await;
    peer.stop();

    let report = device.auth.sign_out(API).await.expect("sign out");
    assert!(matches!(report.revocation, RevocationOutcome::Failed(_)), "{report:?}");
    assert_eq!(device.session.state_kind(), StateKind::NoSession);
    assert!(device.secrets.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_changes_nothing_and_the_session_recovers_after_it() {
    let Some(mut peer) = peer(300).await else { return };
    let device = Device::new(&peer.base_url(), simplejwt());
    device.login("alice").await;
    let held = device.tokens();
    peer.stop();
    device.advance(301);

    let error = device.session.fresh_access_token().await.expect_err("nothing answers");
    assert!(matches!(error, SessionError::TryLater { kind: TransientKind::Network, .. }), "{error:?}");
    assert_eq!(
        device.session.state(),
        SessionState::Active { provider: ProviderKind::TokenPair, tokens: held.clone() }
    );

    peer.restart().await;
    let fresh = device.session.fresh_access_token().await.expect("refreshes once the server is back");
    assert_ne!(fresh, held.access);
}
