//! The OIDC backend against a real OpenID provider (oidc-provider, started by
//! the harness on 127.0.0.1): login, refresh, 401 recovery, the refresh storm,
//! rotation reuse, revocation, an outage, logout races and 403s.
//!
//! Where a test waits in real time it is for the provider's own clock (access
//! tokens expire there, with no leeway); the client's clock is a ManualClock
//! everywhere except the proactive-refresh test, which needs both clocks to run.

mod common;

use std::sync::Arc;
use std::time::Duration as StdDuration;

use authstate::backends::oidc::LoopbackReceiver;
use authstate::refresh::Refresher;
use authstate::{
    AuthedClient, Clock, ExpiryReason, FailureReason, LoginError, ManualClock, ResponseVerdict, RevocationOutcome,
    SessionError, SessionState, StateKind, SystemClock, TransientKind,
};
use common::oidc_peer::{ALIAS, OidcPeer, PeerClient, PeerOptions, drive_login, drive_login_deny};
use time::{Duration, OffsetDateTime};

/// A provider and a client of it; the client's fields are reached through `Deref`.
struct Rig {
    peer: OidcPeer,
    client: PeerClient,
}

impl std::ops::Deref for Rig {
    type Target = PeerClient;
    fn deref(&self) -> &PeerClient {
        &self.client
    }
}

impl Rig {
    /// A provider with access tokens living `ttl` seconds, and a manager whose
    /// clock is `clock` and which refreshes within `threshold` of expiry.
    async fn start(ttl: u64, clock: Arc<dyn Clock>, threshold: Duration) -> Option<Self> {
        let peer = OidcPeer::start(PeerOptions { access_token_ttl_secs: ttl, ..PeerOptions::default() }).await?;
        let client = peer.client(clock, threshold);
        Some(Self { peer, client })
    }

    async fn manual(ttl: u64) -> Option<(Self, ManualClock)> {
        let clock = ManualClock::new(OffsetDateTime::now_utc());
        let rig = Self::start(ttl, Arc::new(clock.clone()), Duration::seconds(5)).await?;
        Some((rig, clock))
    }

    /// A full browser login as `alice`; returns the return path handed back.
    async fn login(&self, return_to: Option<&str>) -> Option<String> {
        let outcome = self.client.login(return_to).await;
        assert!(outcome.persisted);
        outcome.return_to.map(|r| r.as_str().to_owned())
    }

    fn tokens(&self) -> authstate::Tokens {
        self.session.state().tokens().cloned().expect("session holds tokens")
    }

    fn refresh_token(&self) -> String {
        self.tokens().refresh.expect("a refresh token").expose().to_owned()
    }

    fn authed(&self) -> AuthedClient {
        AuthedClient::new(self.http.clone(), Arc::clone(&self.session))
    }
}

macro_rules! rig {
    ($e:expr) => {
        match $e.await {
            Some(rig) => rig,
            None => return,
        }
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_activates_the_session_and_round_trips_the_return_path() {
    let (rig, _clock) = rig!(Rig::manual(60));
    let url = rig.auth.begin_login(ALIAS, Some("/rooms/42?draft=1")).await.expect("begin_login");
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let param = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    assert_eq!(param("code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(param("prompt").as_deref(), Some("consent"));
    assert!(param("scope").is_some_and(|s| s.split(' ').any(|s| s == "offline_access")));
    assert!(param("nonce").is_some() && param("state").is_some());
    assert_eq!(rig.auth.manager().preauth().pending(), Ok(1), "pre-auth saved before the URL is returned");

    let callback = drive_login(url.as_str(), "alice").await;
    let outcome = rig.auth.complete_login(&callback).await.expect("complete_login");
    assert_eq!(outcome.return_to.map(|r| r.as_str().to_owned()).as_deref(), Some("/rooms/42?draft=1"));
    assert_eq!(rig.session.state_kind(), StateKind::Active);
    let tokens = rig.tokens();
    assert!(tokens.refresh.is_some(), "offline_access with prompt=consent yields a refresh token");
    assert!(tokens.id_token.is_some());
    assert_eq!(rig.auth.manager().preauth().pending(), Ok(0));
    let me = rig.peer.userinfo(tokens.access.expose()).await;
    assert_eq!(me.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_state_is_rejected_and_the_real_callback_still_completes() {
    let (rig, _clock) = rig!(Rig::manual(60));
    let url = rig.auth.begin_login(ALIAS, None).await.expect("begin_login");
    let callback = drive_login(url.as_str(), "alice").await;
    let mut tampered = url::Url::parse(&callback).expect("callback URL");
    let pairs: Vec<(String, String)> = tampered
        .query_pairs()
        .into_owned()
        .map(|(k, v)| if k == "state" { (k, format!("{v}x")) } else { (k, v) })
        .collect();
    tampered.query_pairs_mut().clear().extend_pairs(pairs);
    assert_eq!(rig.auth.complete_login(tampered.as_str()).await, Err(LoginError::StateMismatch));
    assert_eq!(rig.session.state_kind(), StateKind::NoSession);
    rig.auth.complete_login(&callback).await.expect("the genuine callback completes");
    assert!(rig.session.is_authenticated());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_callback_or_code_is_rejected() {
    let (rig, _clock) = rig!(Rig::manual(60));
    let url = rig.auth.begin_login(ALIAS, None).await.expect("begin_login");
    let callback = drive_login(url.as_str(), "alice").await;
    rig.auth.complete_login(&callback).await.expect("first use");
    let generation = rig.session.generation();

    // The same callback again: its pending login was single-use.
    assert_eq!(rig.auth.complete_login(&callback).await, Err(LoginError::StateMismatch));

    // The old code under a fresh, genuine state: the provider refuses the code.
    let fresh = rig.auth.begin_login(ALIAS, None).await.expect("begin_login");
    let fresh_state = fresh.query_pairs().find(|(k, _)| k == "state").map(|(_, v)| v.into_owned()).expect("state");
    let mut replay = url::Url::parse(&callback).expect("callback URL");
    let pairs: Vec<(String, String)> = replay
        .query_pairs()
        .into_owned()
        .map(|(k, v)| if k == "state" { (k, fresh_state.clone()) } else { (k, v) })
        .collect();
    replay.query_pairs_mut().clear().extend_pairs(pairs);
    match rig.auth.complete_login(replay.as_str()).await {
        Err(LoginError::CodeRejected(_)) => {}
        other => panic!("expected CodeRejected, got {other:?}"),
    }
    assert_eq!(rig.session.generation(), generation, "a failed login changes nothing");
    assert!(rig.session.is_authenticated());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pre_auth_older_than_30_minutes_is_rejected() {
    let (rig, clock) = rig!(Rig::manual(60));
    let url = rig.auth.begin_login(ALIAS, Some("/late")).await.expect("begin_login");
    let callback = drive_login(url.as_str(), "alice").await;
    clock.advance(Duration::minutes(30));
    match rig.auth.complete_login(&callback).await {
        Err(LoginError::Expired { age_secs }) => assert_eq!(age_secs, 1800),
        other => panic!("expected Expired, got {other:?}"),
    }
    assert_eq!(rig.session.state_kind(), StateKind::NoSession);
    assert_eq!(rig.auth.manager().preauth().pending(), Ok(0), "an expired login is consumed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_who_declines_the_consent_cancelled_the_sign_in() {
    let (rig, _clock) = rig!(Rig::manual(60));
    let url = rig.auth.begin_login(ALIAS, None).await.expect("begin_login");
    let callback = drive_login_deny(url.as_str()).await;
    match rig.auth.complete_login(&callback).await {
        Err(LoginError::Cancelled { error, .. }) => assert_eq!(error, "access_denied"),
        other => panic!("expected Cancelled, got {other:?}"),
    }
    assert_eq!(rig.session.state_kind(), StateKind::NoSession);
    assert_eq!(rig.auth.manager().preauth().pending(), Ok(0), "the cancelled login is consumed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_login_can_never_complete() {
    let (rig, _clock) = rig!(Rig::manual(60));
    let url = rig.auth.begin_login(ALIAS, Some("/after")).await.expect("begin_login");
    let other = rig.auth.begin_login(ALIAS, None).await.expect("a second, concurrent login");
    assert_eq!(rig.auth.manager().preauth().pending(), Ok(2));
    // The user dismissed the browser: the host abandons by the URL it opened.
    assert_eq!(rig.auth.abandon_login(url.as_str()), Ok(true));
    assert_eq!(rig.auth.abandon_login(url.as_str()), Ok(false), "twice is not an error");
    assert_eq!(rig.auth.manager().preauth().pending(), Ok(1), "only that login is gone");
    // A callback for it that arrives anyway (the browser finished after all) is refused.
    let callback = drive_login(url.as_str(), "alice").await;
    assert_eq!(rig.auth.complete_login(&callback).await.err(), Some(LoginError::StateMismatch));
    assert_eq!(rig.session.state_kind(), StateKind::NoSession);
    // By its bare `state` value too.
    let state = other.query_pairs().find(|(k, _)| k == "state").expect("a state").1.into_owned();
    assert_eq!(rig.auth.abandon_login(&state), Ok(true));
    assert_eq!(rig.auth.manager().preauth().pending(), Ok(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loopback_receiver_on_an_ephemeral_port_completes_a_login() {
    let (rig, _clock) = rig!(Rig::manual(60));
    let receiver = LoopbackReceiver::bind("/callback").await.expect("bind 127.0.0.1:0");
    let redirect = receiver.redirect_uri();
    let url = rig.auth.begin_login_with_redirect(ALIAS, Some("/after"), &redirect).await.expect("begin_login");
    let waiting = tokio::spawn(receiver.receive(None));
    let callback = drive_login(url.as_str(), "alice").await;
    assert!(callback.starts_with(&redirect), "the provider sends the browser to the ephemeral port");
    // The browser follows the redirect to the receiver.
    let page = rig.http.get(&callback).send().await.expect("browser reaches the receiver");
    assert_eq!(page.status(), 200);
    let received = waiting.await.expect("receiver task").expect("callback received");
    assert_eq!(received, callback);
    let outcome = rig.auth.complete_login(&received).await.expect("complete_login");
    assert_eq!(outcome.return_to.map(|r| r.as_str().to_owned()).as_deref(), Some("/after"));
    assert!(rig.session.is_authenticated());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proactive_refresh_across_three_expiries_sees_no_401() {
    // Both clocks run here: access tokens live 2 s and are refreshed 1 s before.
    let rig = rig!(Rig::start(2, Arc::new(SystemClock), Duration::seconds(1)));
    rig.login(None).await;
    rig.peer.reset_counts().await;
    let client = rig.authed();
    let started = std::time::Instant::now();
    let mut requests = 0;
    // Three expiries of the first token's successors: 3 × 2 s, and a margin.
    while started.elapsed() < StdDuration::from_millis(6500) {
        let response = client.send(client.get(&rig.peer.endpoints().userinfo)).await;
        assert!(response.is_ok(), "request {requests} failed: {response:?}");
        requests += 1;
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    let counts = rig.peer.counts().await;
    assert_eq!(counts.userinfo, requests, "every request reached the resource exactly once: no 401, no retry");
    assert!(counts.token >= 3, "the token was refreshed ahead of each expiry ({} refreshes)", counts.token);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_from_userinfo_refreshes_once_and_the_retry_succeeds() {
    let (rig, _clock) = rig!(Rig::manual(1));
    rig.login(None).await;
    let before = rig.tokens();
    // The provider's clock, not ours, expires the token: wait it out. Our
    // ManualClock still calls the token valid, so it is sent and refused.
    tokio::time::sleep(StdDuration::from_millis(1100)).await;
    assert_eq!(rig.peer.userinfo(before.access.expose()).await.status(), 401);
    rig.peer.reset_counts().await;

    let client = rig.authed();
    let response = client.send(client.get(&rig.peer.endpoints().userinfo)).await.expect("retried request succeeds");
    assert_eq!(response.status(), 200);
    let counts = rig.peer.counts().await;
    assert_eq!((counts.token, counts.userinfo), (1, 2), "one refresh, one retry");
    assert_ne!(rig.tokens().access, before.access);
    assert!(rig.session.is_authenticated());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_callers_after_expiry_cause_exactly_one_token_request() {
    let (rig, clock) = rig!(Rig::manual(60));
    rig.login(None).await;
    let old = rig.tokens();
    rig.peer.reset_counts().await;
    clock.advance(Duration::seconds(61));
    let callers: Vec<_> = (0..1000)
        .map(|_| {
            let session = Arc::clone(&rig.session);
            tokio::spawn(async move { session.fresh_access_token().await })
        })
        .collect();
    let mut tokens = Vec::new();
    for caller in callers {
        tokens.push(caller.await.expect("caller task").expect("every caller gets a token"));
    }
    assert_eq!(rig.peer.counts().await.token, 1, "exactly one token-endpoint request");
    assert!(tokens.iter().all(|t| *t == tokens[0]), "all callers share the one result");
    assert_ne!(tokens[0], old.access);
    assert_eq!(rig.peer.userinfo(tokens[0].expose()).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_reuse_expires_the_session_with_tokens_kept_and_a_new_login_revives_it() {
    let (rig, _clock) = rig!(Rig::manual(60));
    rig.login(None).await;
    let first = rig.tokens();
    rig.session.refresh().await.expect("refresh rotates");
    let rotated = rig.tokens();
    assert_ne!(rotated.refresh, first.refresh, "the provider rotates refresh tokens");

    // An old copy of the refresh token is replayed (a restored backup, a thief).
    let info = rig.session.info().clone();
    match rig.backends.oidc().refresh(&info, &first).await {
        Err(authstate::RefreshError::Rejected { detail }) => assert_eq!(detail, "invalid_grant"),
        other => panic!("expected invalid_grant, got {other:?}"),
    }
    // The provider revoked the whole grant: the current token dies too.
    match rig.session.refresh().await {
        Err(SessionError::SignInRequired { reason }) => assert_eq!(reason, ExpiryReason::RefreshRejected),
        other => panic!("expected SignInRequired, got {other:?}"),
    }
    match rig.session.state() {
        SessionState::Expired { tokens, .. } => assert_eq!(tokens.refresh, rotated.refresh, "tokens kept"),
        other => panic!("expected Expired, got {other:?}"),
    }
    rig.login(None).await;
    assert!(rig.session.is_authenticated(), "a new login revives the session");
    rig.session.refresh().await.expect("the new grant refreshes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_at_the_provider_expires_the_session_on_next_use() {
    let (rig, _clock) = rig!(Rig::manual(60));
    rig.login(None).await;
    rig.peer.revoke_at_provider(&rig.refresh_token()).await;
    let client = rig.authed();
    let failure = client.send(client.get(&rig.peer.endpoints().userinfo)).await.expect_err("revoked");
    assert_eq!(failure.reason, FailureReason::AuthExpired);
    assert_eq!(rig.session.state_kind(), StateKind::Expired);
    assert!(rig.session.state().tokens().is_some(), "tokens kept for the UI and a silent retry");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_revokes_at_the_provider_and_deletes_every_secret() {
    let (rig, _clock) = rig!(Rig::manual(60));
    rig.login(None).await;
    let held = rig.tokens();
    rig.peer.reset_counts().await;
    let report = rig.auth.sign_out(ALIAS).await.expect("sign out");
    assert_eq!(report.revocation, RevocationOutcome::Revoked);
    assert_eq!(rig.peer.counts().await.revocation, 1);
    assert_eq!(rig.session.state(), SessionState::NoSession);
    assert!(
        rig.secrets.all_keys().iter().all(|k| !k.starts_with("authstate.tokens.")),
        "no tokens left in the secret store: {:?}",
        rig.secrets.all_keys()
    );
    let info = rig.session.info().clone();
    assert!(
        matches!(rig.backends.oidc().refresh(&info, &held).await, Err(authstate::RefreshError::Rejected { .. })),
        "the revoked refresh token no longer works"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_with_the_provider_down_still_signs_out_and_reports_the_failure() {
    let (mut rig, _clock) = rig!(Rig::manual(60));
    rig.login(None).await;
    rig.peer.stop();
    let report = rig.auth.sign_out(ALIAS).await.expect("local sign-out succeeds");
    assert!(matches!(report.revocation, RevocationOutcome::Failed(_)), "got {:?}", report.revocation);
    assert_eq!(rig.session.state(), SessionState::NoSession);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_outage_keeps_the_session_and_it_recovers_when_the_provider_is_back() {
    let (mut rig, clock) = rig!(Rig::manual(60));
    rig.login(None).await;
    let held = rig.tokens();
    rig.peer.stop();
    clock.advance(Duration::seconds(58)); // within the threshold: a refresh is due
    match rig.session.refresh().await {
        Err(SessionError::TryLater { kind: TransientKind::Network, .. }) => {}
        other => panic!("expected a transient network failure, got {other:?}"),
    }
    let token = rig.session.fresh_access_token().await.expect("the still-valid token is used meanwhile");
    assert_eq!(token, held.access);
    clock.advance(Duration::seconds(5)); // now expired
    assert!(matches!(rig.session.fresh_access_token().await, Err(SessionError::TryLater { .. })));
    assert_eq!(rig.session.state_kind(), StateKind::Active, "an outage never expires the session");
    assert_eq!(rig.tokens(), held, "and loses nothing");

    rig.peer.restart().await;
    let fresh = rig.session.fresh_access_token().await.expect("recovers once the provider is back");
    assert_ne!(fresh, held.access);
    assert_eq!(rig.peer.userinfo(fresh.expose()).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_during_an_in_flight_refresh_stays_signed_out() {
    let (rig, _clock) = rig!(Rig::manual(60));
    rig.login(None).await;
    rig.peer.pause(); // the token request will hang until resumed
    let refreshing = tokio::spawn({
        let session = Arc::clone(&rig.session);
        async move { session.refresh().await }
    });
    while !rig.session.refresh_in_flight() {
        tokio::task::yield_now().await;
    }
    rig.session.logout().expect("local logout");
    rig.peer.resume();
    let _ = refreshing.await.expect("refresh task");
    assert_eq!(rig.session.state(), SessionState::NoSession, "the refresh result was discarded");
    assert!(rig.secrets.all_keys().iter().all(|k| !k.starts_with("authstate.tokens.")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_403_from_a_resource_never_refreshes_or_changes_state() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let (rig, _clock) = rig!(Rig::manual(60));
    rig.login(None).await;
    let resource = MockServer::start().await;
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(403)).mount(&resource).await;
    let before = (rig.session.generation(), rig.session.state());
    rig.peer.reset_counts().await;

    let client = rig.authed();
    let failure = client.send(client.get(resource.uri())).await.expect_err("403");
    assert_eq!(failure.reason, FailureReason::PermissionDenied);
    let token = rig.tokens().access;
    assert_eq!(rig.session.on_response(403, None, token.expose()).await, ResponseVerdict::PermissionDenied);
    assert_eq!(rig.peer.counts().await.token, 0, "no refresh");
    assert_eq!((rig.session.generation(), rig.session.state()), before, "no state change");
}
