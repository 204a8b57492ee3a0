//! `AuthedClient` and the response funnel against a wiremock resource server
//! and the fake OpenID provider: one refresh and one retry on 401, 403 never
//! refreshes, status and transport failures mapped to a `FailureReason`,
//! cancellation (by the caller, and by the session leaving `Active`), and
//! single-flight refresh under 50 concurrent 401s (DESIGN.md invariants 4, 6,
//! 7 and 11).

mod common;

use std::sync::Arc;
use std::time::Duration as StdDuration;

use authstate::http::{AuthedClient, FailureReason, HttpConfig, ResponseVerdict};
use authstate::{CancelReason, CancelToken, ExpiryReason, ProviderKind, SessionState, StateKind};
use common::fake_idp::{
    FakeIdp, IdpHarness, IdpOptions, authorization, default_http, notifying, signed_in, slow, token_error, token_json,
    token_ok,
};
use common::grant;
use common::raw_endpoints::{RawAnswer, RawHttpEndpoint};
use time::Duration;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const DATA: &str = "/data";

/// A resource server, the fake provider, and a session signed in with `old`/`r1` for an hour.
struct World {
    resource: MockServer,
    idp: FakeIdp,
    h: IdpHarness,
    client: AuthedClient,
}

impl World {
    async fn start() -> Self {
        Self::start_with(default_http(), IdpOptions::default()).await
    }

    async fn start_with(http: HttpConfig, options: IdpOptions) -> Self {
        let resource = MockServer::start().await;
        let idp = FakeIdp::start_with(options).await;
        let h = signed_in(idp.provider(), &resource.uri(), http, grant("old", Some("r1"), 3600));
        let client = AuthedClient::new(h.http.clone(), Arc::clone(&h.session));
        Self { resource, idp, h, client }
    }

    fn url(&self) -> String {
        format!("{}{DATA}", self.resource.uri())
    }

    /// Answers requests carrying `Bearer <token>` at [`DATA`] with `response`.
    async fn answer(&self, token: &str, response: ResponseTemplate) {
        Mock::given(method("GET"))
            .and(path(DATA))
            .and(header("authorization", format!("Bearer {token}").as_str()))
            .respond_with(response)
            .mount(&self.resource)
            .await;
    }

    async fn resource_requests(&self) -> Vec<Request> {
        self.resource.received_requests().await.unwrap_or_default()
    }

    /// The `Authorization` headers the resource server received, in order.
    async fn authorizations(&self) -> Vec<String> {
        self.resource_requests().await.iter().filter_map(authorization).collect()
    }

    async fn get(&self) -> Result<reqwest::Response, authstate::HttpFailure> {
        self.client.send(self.client.get(self.url())).await
    }
}

fn access(state: &SessionState) -> Option<String> {
    state.tokens().map(|t| t.access.expose().to_owned())
}

#[tokio::test]
async fn a_401_refreshes_once_and_the_retry_carries_the_new_token() {
    let w = World::start().await;
    w.answer("old", ResponseTemplate::new(401).insert_header("www-authenticate", r#"Bearer error="invalid_token""#))
        .await;
    w.answer("new", ResponseTemplate::new(200).set_body_string("payload")).await;
    let _token = w.idp.on_token(token_ok("new", Some("r2"), 3600)).await;

    let response = w.get().await.expect("retried request succeeds");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.text().await.ok().as_deref(), Some("payload"));
    assert_eq!(w.authorizations().await, ["Bearer old", "Bearer new"]);
    assert_eq!(w.idp.token_request_count().await, 1);
    assert_eq!(w.h.held(), Some(("new".to_owned(), Some("r2".to_owned()))));
}

#[tokio::test]
async fn a_401_after_the_refresh_is_auth_expired_without_a_second_refresh() {
    let w = World::start().await;
    w.answer("old", ResponseTemplate::new(401)).await;
    w.answer("new", ResponseTemplate::new(401)).await;
    let _token = w.idp.on_token(token_ok("new", Some("r2"), 3600)).await;

    let failure = w.get().await.expect_err("401 twice");
    assert_eq!(failure.reason, FailureReason::AuthExpired);
    assert_eq!(failure.status, Some(401));
    assert_eq!(w.authorizations().await, ["Bearer old", "Bearer new"], "one retry only");
    assert_eq!(w.idp.token_request_count().await, 1, "a second refresh was made");
}

#[tokio::test]
async fn a_401_whose_refresh_is_rejected_expires_the_session() {
    let w = World::start().await;
    w.answer("old", ResponseTemplate::new(401)).await;
    let _token = w.idp.on_token(token_error(400, "invalid_grant")).await;

    let failure = w.get().await.expect_err("refresh rejected");
    assert_eq!(failure.reason, FailureReason::AuthExpired);
    assert_eq!(w.authorizations().await, ["Bearer old"], "retried without a token");
    match w.h.session.state() {
        SessionState::Expired { reason, tokens, .. } => {
            assert_eq!(reason, ExpiryReason::RefreshRejected);
            assert_eq!(tokens.access.expose(), "old");
        }
        other => panic!("expected Expired, got {other:?}"),
    }
}

#[tokio::test]
async fn a_401_whose_refresh_fails_transiently_keeps_the_session() {
    let w = World::start().await;
    w.answer("old", ResponseTemplate::new(401)).await;
    let _token = w.idp.on_token(ResponseTemplate::new(503)).await;
    let before = w.h.session.state();

    let failure = w.get().await.expect_err("refresh failed");
    assert_eq!(failure.reason, FailureReason::ServerError);
    assert_eq!(w.h.session.state(), before);
    assert_eq!(w.idp.token_request_count().await, 1);
}

#[tokio::test]
async fn a_403_is_permission_denied_and_never_refreshes() {
    let w = World::start().await;
    w.answer("old", ResponseTemplate::new(403)).await;
    let before = (w.h.session.state(), w.h.session.generation(), w.h.stored_tokens());

    let failure = w.get().await.expect_err("403");
    assert_eq!(failure.reason, FailureReason::PermissionDenied);
    assert_eq!(failure.status, Some(403));
    assert_eq!(w.idp.token_request_count().await, 0);
    assert_eq!(w.authorizations().await, ["Bearer old"], "a 403 was retried");
    assert_eq!((w.h.session.state(), w.h.session.generation(), w.h.stored_tokens()), before);
}

#[tokio::test]
async fn statuses_404_429_500_are_mapped_and_change_nothing() {
    let w = World::start().await;
    let before = w.h.session.state();
    let cases = [
        (404, ResponseTemplate::new(404), FailureReason::NotFound, None),
        (
            429,
            ResponseTemplate::new(429).insert_header("retry-after", "30"),
            FailureReason::RateLimited,
            Some(Duration::seconds(30)),
        ),
        (500, ResponseTemplate::new(500), FailureReason::ServerError, None),
        (
            503,
            ResponseTemplate::new(503).insert_header("retry-after", "7"),
            FailureReason::ServerError,
            Some(Duration::seconds(7)),
        ),
    ];
    for (status, response, reason, retry_after) in cases {
        let guard =
            Mock::given(method("GET")).and(path(DATA)).respond_with(response).mount_as_scoped(&w.resource).await;
        let failure = w.get().await.expect_err("error status");
        assert_eq!((failure.reason, failure.status, failure.retry_after), (reason, Some(status), retry_after));
        drop(guard);
    }
    assert_eq!(w.h.session.state(), before);
    assert_eq!(w.idp.token_request_count().await, 0);
    assert_eq!(w.resource_requests().await.len(), 4, "an error status was retried");
}

#[tokio::test]
async fn other_statuses_come_back_as_responses() {
    let w = World::start().await;
    w.answer("old", ResponseTemplate::new(204)).await;
    let response = w.get().await.expect("204 is not a failure");
    assert_eq!(response.status().as_u16(), 204);
}

#[tokio::test]
async fn connection_refused_is_network() {
    let w = World::start().await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr")
    }; // dropped: nothing listens there now
    let before = w.h.session.state();
    let failure = w.client.send(w.client.get(format!("http://{closed}/data"))).await.expect_err("refused");
    assert_eq!(failure.reason, FailureReason::Network);
    assert_eq!(failure.status, None);
    assert_eq!(w.h.session.state(), before);
}

#[tokio::test]
async fn a_resource_slower_than_the_request_timeout_is_timeout() {
    let http = HttpConfig {
        connect_timeout: StdDuration::from_secs(2),
        request_timeout: StdDuration::from_millis(300),
        ..HttpConfig::default()
    };
    let w = World::start_with(http, IdpOptions::default()).await;
    w.answer("old", slow(ResponseTemplate::new(200), StdDuration::from_secs(2))).await;
    let before = w.h.session.state();
    let failure = w.get().await.expect_err("timeout");
    assert_eq!(failure.reason, FailureReason::Timeout);
    assert_eq!(w.h.session.state(), before);
    assert_eq!(w.idp.token_request_count().await, 0);
}

#[tokio::test]
async fn a_caller_cancel_during_a_slow_response_is_cancelled() {
    let w = World::start().await;
    let (responder, mut arrived) = notifying(slow(ResponseTemplate::new(200), StdDuration::from_secs(30)));
    Mock::given(method("GET")).and(path(DATA)).respond_with(responder).mount(&w.resource).await;

    let cancel = CancelToken::new();
    let (client, url, token) = (w.client.clone(), w.url(), cancel.clone());
    let request = tokio::spawn(async move { client.send_with(client.get(url), Some(&token)).await });
    arrived.recv().await.expect("the request reached the server");
    cancel.cancel(CancelReason::Caller);

    let failure = request.await.expect("task").expect_err("cancelled");
    assert_eq!(failure.reason, FailureReason::Cancelled);
    assert_eq!(w.h.session.state_kind(), StateKind::Active, "a caller's cancel never touches the session");
    assert!(!w.h.session.work_epoch().is_cancelled(), "nor the session's other work");
}

#[tokio::test]
async fn expiring_the_session_mid_request_ends_it_with_auth_expired() {
    let w = World::start().await;
    let (responder, mut arrived) = notifying(slow(ResponseTemplate::new(200), StdDuration::from_secs(30)));
    Mock::given(method("GET")).and(path(DATA)).respond_with(responder).mount(&w.resource).await;

    let client = w.client.clone();
    let url = w.url();
    let request = tokio::spawn(async move { client.send(client.get(url)).await });
    arrived.recv().await.expect("the request reached the server");
    w.h.session.mark_expired(ExpiryReason::Marked).expect("mark expired");

    let failure = request.await.expect("task").expect_err("cancelled by the session");
    assert_eq!(failure.reason, FailureReason::AuthExpired);
    assert_eq!(w.h.session.state_kind(), StateKind::Expired);

    // Signed in again, a new request belongs to a new epoch and is not cancelled.
    w.h.session.sign_in(ProviderKind::Oidc, grant("fresh", Some("r9"), 3600)).expect("sign in");
    Mock::given(method("GET")).and(path("/fast")).respond_with(ResponseTemplate::new(200)).mount(&w.resource).await;
    let fast = format!("{}/fast", w.resource.uri());
    let response = w.client.send(w.client.get(fast)).await.expect("a new epoch's request runs");
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn funnel_403_is_permission_denied_and_changes_nothing() {
    let w = World::start().await;
    let before = (w.h.session.state(), w.h.session.generation());
    assert_eq!(w.h.session.on_response(403, None, "old").await, ResponseVerdict::PermissionDenied);
    assert_eq!((w.h.session.state(), w.h.session.generation()), before);
    assert_eq!(w.idp.token_request_count().await, 0);
}

#[tokio::test]
async fn funnel_401_insufficient_scope_is_permission_denied_without_a_refresh() {
    let w = World::start().await;
    let before = (w.h.session.state(), w.h.session.generation());
    let challenge = r#"Bearer realm="api", error="insufficient_scope", scope="admin""#;
    assert_eq!(w.h.session.on_response(401, Some(challenge), "old").await, ResponseVerdict::PermissionDenied);
    assert_eq!((w.h.session.state(), w.h.session.generation()), before);
    assert_eq!(w.idp.token_request_count().await, 0);
}

#[tokio::test]
async fn funnel_401_for_an_older_token_retries_with_the_current_one_without_a_refresh() {
    let w = World::start().await;
    let _token = w.idp.on_token(token_ok("new", Some("r2"), 3600)).await;
    w.h.session.refresh().await.expect("refresh to `new`");
    assert_eq!(w.idp.token_request_count().await, 1);

    let verdict = w.h.session.on_response(401, Some(r#"Bearer error="invalid_token""#), "old").await;
    match verdict {
        ResponseVerdict::RetryWith(token) => assert_eq!(token.expose(), "new"),
        other => panic!("expected RetryWith(new), got {other:?}"),
    }
    assert_eq!(w.idp.token_request_count().await, 1, "a stale 401 caused a refresh");
    assert_eq!(access(&w.h.session.state()).as_deref(), Some("new"));
}

#[tokio::test]
async fn funnel_401_for_the_current_token_refreshes_once() {
    let w = World::start().await;
    let _token = w.idp.on_token(token_ok("new", Some("r2"), 3600)).await;
    match w.h.session.on_response(401, None, "old").await {
        ResponseVerdict::RetryWith(token) => assert_eq!(token.expose(), "new"),
        other => panic!("expected RetryWith(new), got {other:?}"),
    }
    assert_eq!(w.idp.token_request_count().await, 1);
}

#[tokio::test]
async fn funnel_200_passes() {
    let w = World::start().await;
    let before = (w.h.session.state(), w.h.session.generation());
    assert_eq!(w.h.session.on_response(200, None, "old").await, ResponseVerdict::Pass);
    assert_eq!(w.h.session.on_response(404, None, "old").await, ResponseVerdict::Pass);
    assert_eq!((w.h.session.state(), w.h.session.generation()), before);
    assert_eq!(w.idp.token_request_count().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_401s_with_the_same_token_cause_one_token_request() {
    const N: usize = 50;
    // The token endpoint holds its answer until every request has had its 401.
    let token_endpoint = RawHttpEndpoint::start(RawAnswer::Json(token_json("new", Some("r2"), 3600).to_string())).await;
    token_endpoint.hold();
    let options = IdpOptions { token_endpoint: Some(token_endpoint.url().to_owned()), ..IdpOptions::default() };
    let w = World::start_with(default_http(), options).await;
    let (unauthorized, mut arrived) = notifying(ResponseTemplate::new(401));
    Mock::given(method("GET"))
        .and(path(DATA))
        .and(header("authorization", "Bearer old"))
        .respond_with(unauthorized)
        .mount(&w.resource)
        .await;
    w.answer("new", ResponseTemplate::new(200)).await;

    let tasks: Vec<_> = (0..N)
        .map(|_| {
            let (client, url) = (w.client.clone(), w.url());
            tokio::spawn(async move { client.send(client.get(url)).await.map(|r| r.status().as_u16()) })
        })
        .collect();
    for _ in 0..N {
        arrived.recv().await.expect("a 401 was served");
    }
    token_endpoint.wait_for_requests(1).await;
    token_endpoint.release();

    for task in tasks {
        assert_eq!(task.await.expect("task").expect("retried request succeeds"), 200);
    }
    assert_eq!(token_endpoint.requests(), 1, "more than one token request");
    assert!(token_endpoint.bodies()[0].contains("refresh_token=r1"));
    let auths = w.authorizations().await;
    assert_eq!(auths.iter().filter(|a| *a == "Bearer old").count(), N);
    assert_eq!(auths.iter().filter(|a| *a == "Bearer new").count(), N);
    assert_eq!(w.h.held(), Some(("new".to_owned(), Some("r2".to_owned()))));
}
