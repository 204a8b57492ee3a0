//! The OIDC backend against a fake provider that misbehaves on demand: slow,
//! failing, rate-limiting, malformed or truncated token answers, discovery
//! outages, and revocation at sign-out.
//!
//! Every transient fault must leave the session exactly as it was (state,
//! generation, tokens, secret store) and the session must recover with the
//! next successful refresh once the fault is gone (DESIGN.md invariant 2).
//! `invalid_grant`/`invalid_client` are the definitive contrast (invariant 3).

mod common;

use std::time::Duration as StdDuration;

use authstate::http::HttpConfig;
use authstate::{ExpiryReason, RefreshError, RevocationOutcome, SessionError, SessionState, StateKind, TransientKind};
use common::fake_idp::{
    ALIAS, FakeIdp, IdpHarness, IdpOptions, TOKENS_KEY, default_http, form_field, html_page, malformed_json,
    no_backoff, rate_limited, signed_in, signed_in_through, slow, status_with_body, token_error, token_json, token_ok,
};
use common::grant;
use common::raw_endpoints::{RawAnswer, RawHttpEndpoint, TlsEndpoint, tls_client};
use time::Duration;
use wiremock::ResponseTemplate;

const RESOURCE: &str = "https://api.example";

/// Signed in with `a1`/`r1`, valid 60 s, and the clock 120 s later: the
/// access token has expired, so the next `fresh_access_token` must refresh.
fn expired_session(idp: &FakeIdp, http: HttpConfig) -> IdpHarness {
    let h = signed_in(idp.provider(), RESOURCE, http, grant("a1", Some("r1"), 60));
    h.clock.advance(Duration::seconds(120));
    h
}

/// Everything a transient failure must leave untouched.
#[derive(Debug, PartialEq)]
struct Held {
    state: SessionState,
    generation: u64,
    stored: Option<String>,
    secret_keys: Vec<String>,
}

fn held(h: &IdpHarness) -> Held {
    Held {
        state: h.session.state(),
        generation: h.session.generation(),
        stored: h.stored_tokens(),
        secret_keys: h.secrets.all_keys(),
    }
}

/// The session is exactly as `before`: Active with `a1`/`r1`, nothing rewritten or deleted.
fn assert_untouched(h: &IdpHarness, before: &Held) {
    assert_eq!(&held(h), before, "a transient failure changed the session");
    assert_eq!(h.session.state_kind(), StateKind::Active);
    assert_eq!(h.held(), Some(("a1".to_owned(), Some("r1".to_owned()))));
    assert!(h.secrets.all_keys().iter().any(|k| k == TOKENS_KEY), "tokens deleted from the secret store");
    let stored = h.stored_tokens().unwrap_or_default();
    assert!(stored.contains("a1") && stored.contains("r1"), "stored tokens changed");
}

fn assert_try_later(result: Result<authstate::Secret, SessionError>, expected: TransientKind) {
    match result {
        Err(SessionError::TryLater { kind, .. }) => assert_eq!(kind, expected),
        other => panic!("expected TryLater({expected:?}), got {other:?}"),
    }
}

/// With the fault gone, the next refresh applies: `a2`/`r2`, persisted.
async fn assert_recovers(idp: &FakeIdp, h: &IdpHarness) {
    let ok = idp.on_token(token_ok("a2", Some("r2"), 3600)).await;
    let token = h.session.fresh_access_token().await;
    assert_eq!(token.map(|t| t.expose().to_owned()), Ok("a2".to_owned()));
    assert_eq!(h.held(), Some(("a2".to_owned(), Some("r2".to_owned()))));
    let stored = h.stored_tokens().unwrap_or_default();
    assert!(stored.contains("a2") && stored.contains("r2"), "refreshed tokens not persisted");
    let last = idp.token_requests().await.pop();
    assert_eq!(last.as_ref().and_then(|r| form_field(r, "refresh_token")).as_deref(), Some("r1"));
    drop(ok);
}

#[tokio::test]
async fn a_token_endpoint_slower_than_the_request_timeout_is_a_transient_timeout() {
    let idp = FakeIdp::start().await;
    let http = HttpConfig {
        connect_timeout: StdDuration::from_secs(2),
        request_timeout: StdDuration::from_millis(300),
        ..HttpConfig::default()
    };
    let h = expired_session(&idp, http);
    // Discovery first, so the timeout is provably the token request's.
    h.backends.oidc().discover(&idp.config()).await.expect("discovery");
    let before = held(&h);

    let fault = idp.on_token(slow(token_ok("late", Some("late-r"), 3600), StdDuration::from_secs(2))).await;
    assert_try_later(h.session.fresh_access_token().await, TransientKind::Timeout);
    assert_eq!(idp.token_request_count().await, 1);
    assert_untouched(&h, &before);

    drop(fault);
    assert_recovers(&idp, &h).await;
}

#[tokio::test]
async fn server_errors_500_502_503_are_transient_and_change_nothing() {
    let idp = FakeIdp::start().await;
    let h = expired_session(&idp, default_http());
    let before = held(&h);
    for (n, status) in [500u16, 502, 503].into_iter().enumerate() {
        let fault = idp.on_token(status_with_body(status, "upstream unavailable", "text/plain")).await;
        assert_try_later(h.session.fresh_access_token().await, TransientKind::ServerError);
        assert_eq!(idp.token_request_count().await, n + 1, "one token request per attempt ({status})");
        assert_untouched(&h, &before);
        drop(fault);
    }
    assert_recovers(&idp, &h).await;
}

#[tokio::test]
async fn a_server_error_while_the_token_is_still_valid_serves_the_old_token() {
    let idp = FakeIdp::start().await;
    let h = signed_in(idp.provider(), RESOURCE, default_http(), grant("a1", Some("r1"), 600));
    h.clock.advance(Duration::seconds(400)); // within the 300 s threshold, not expired
    let before = held(&h);
    let fault = idp.on_token(status_with_body(503, "", "text/plain")).await;
    let token = h.session.fresh_access_token().await;
    assert_eq!(token.map(|t| t.expose().to_owned()), Ok("a1".to_owned()));
    assert_eq!(idp.token_request_count().await, 1, "the proactive refresh was attempted");
    assert_untouched(&h, &before);
    drop(fault);
    assert_recovers(&idp, &h).await;
}

#[tokio::test]
async fn rate_limited_with_retry_after_holds_every_refresh_until_it_passes() {
    let idp = FakeIdp::start().await;
    let h = expired_session(&idp, default_http());
    let before = held(&h);

    let fault = idp.on_token(rate_limited(120)).await;
    match h.session.fresh_access_token().await {
        Err(SessionError::TryLater { kind, retry_after }) => {
            assert_eq!(kind, TransientKind::RateLimited);
            assert_eq!(retry_after, Some(Duration::seconds(120)), "Retry-After not honoured");
        }
        other => panic!("expected TryLater(RateLimited), got {other:?}"),
    }
    assert_eq!(idp.token_request_count().await, 1);
    assert_untouched(&h, &before);
    drop(fault);
    let ok = idp.on_token(token_ok("a2", Some("r2"), 3600)).await;

    // Inside the 120 s window nothing is sent, however often the app asks.
    for (advance, left) in [(30, 90), (60, 30), (29, 1)] {
        h.clock.advance(Duration::seconds(advance));
        match h.session.fresh_access_token().await {
            Err(SessionError::TryLater { retry_after, .. }) => {
                assert_eq!(retry_after, Some(Duration::seconds(left)), "the wait shrinks with the clock");
            }
            other => panic!("expected TryLater during Retry-After, got {other:?}"),
        }
        assert!(matches!(h.session.refresh().await, Err(SessionError::TryLater { .. })));
        assert_eq!(idp.token_request_count().await, 1, "a token request was sent during Retry-After");
        assert_untouched(&h, &before);
    }

    // Past it, the refresh goes out and applies.
    h.clock.advance(Duration::seconds(2));
    let token = h.session.fresh_access_token().await;
    assert_eq!(token.map(|t| t.expose().to_owned()), Ok("a2".to_owned()));
    assert_eq!(idp.token_request_count().await, 2);
    assert_eq!(h.held(), Some(("a2".to_owned(), Some("r2".to_owned()))));
    drop(ok);
}

#[tokio::test]
async fn malformed_json_is_a_transient_malformed_response() {
    let idp = FakeIdp::start().await;
    let h = expired_session(&idp, default_http());
    let before = held(&h);
    let fault = idp.on_token(malformed_json()).await;
    assert_try_later(h.session.fresh_access_token().await, TransientKind::MalformedResponse);
    assert_eq!(idp.token_request_count().await, 1);
    assert_untouched(&h, &before);
    drop(fault);
    assert_recovers(&idp, &h).await;
}

#[tokio::test]
async fn an_html_page_with_200_is_a_transient_malformed_response() {
    let idp = FakeIdp::start().await;
    let h = expired_session(&idp, default_http());
    let before = held(&h);
    let fault = idp.on_token(html_page()).await;
    assert_try_later(h.session.fresh_access_token().await, TransientKind::MalformedResponse);
    assert_untouched(&h, &before);
    drop(fault);
    assert_recovers(&idp, &h).await;
}

#[tokio::test]
async fn a_json_body_missing_the_access_token_is_transient() {
    let idp = FakeIdp::start().await;
    let h = expired_session(&idp, default_http());
    let before = held(&h);
    let fault = idp
        .on_token(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({ "token_type": "Bearer", "expires_in": 60 })),
        )
        .await;
    assert_try_later(h.session.fresh_access_token().await, TransientKind::MalformedResponse);
    assert_untouched(&h, &before);
    drop(fault);
    assert_recovers(&idp, &h).await;
}

#[tokio::test]
async fn a_truncated_body_is_a_transient_malformed_response() {
    let raw = RawHttpEndpoint::start(RawAnswer::Truncated).await;
    let idp =
        FakeIdp::start_with(IdpOptions { token_endpoint: Some(raw.url().to_owned()), ..IdpOptions::default() }).await;
    let h = expired_session(&idp, default_http());
    let before = held(&h);

    assert_try_later(h.session.fresh_access_token().await, TransientKind::MalformedResponse);
    assert_eq!(raw.requests(), 1);
    assert!(raw.bodies()[0].contains("refresh_token=r1"));
    assert_untouched(&h, &before);

    // The endpoint heals: the next refresh applies.
    raw.set_answer(RawAnswer::Json(token_json("a2", Some("r2"), 3600).to_string()));
    let token = h.session.fresh_access_token().await;
    assert_eq!(token.map(|t| t.expose().to_owned()), Ok("a2".to_owned()));
    assert_eq!(raw.requests(), 2);
    assert_eq!(h.held(), Some(("a2".to_owned(), Some("r2".to_owned()))));
}

#[tokio::test]
async fn discovery_down_is_transient_and_no_token_request_is_made() {
    let idp = FakeIdp::start_with(IdpOptions { discovery: false, ..IdpOptions::default() }).await;
    let h = expired_session(&idp, default_http());
    let before = held(&h);

    let down = idp.on_discovery(status_with_body(500, "down", "text/plain")).await;
    assert_try_later(h.session.fresh_access_token().await, TransientKind::ServerError);
    assert_eq!(idp.discovery_request_count().await, 1);
    assert_eq!(idp.token_request_count().await, 0);
    assert_untouched(&h, &before);

    drop(down);
    idp.mount_discovery().await;
    assert_recovers(&idp, &h).await;
    assert_eq!(idp.discovery_request_count().await, 2, "a failed discovery is not cached");
}

#[tokio::test]
async fn a_discovery_document_for_another_issuer_is_transient_not_definitive() {
    let idp = FakeIdp::start_with(IdpOptions { discovery: false, ..IdpOptions::default() }).await;
    let h = expired_session(&idp, default_http());
    let before = held(&h);

    let mut wrong = idp.discovery_document();
    wrong["issuer"] = serde_json::json!("https://evil.example");
    let bad = idp.on_discovery(ResponseTemplate::new(200).set_body_json(wrong)).await;
    assert_try_later(h.session.fresh_access_token().await, TransientKind::MalformedResponse);
    assert_eq!(idp.token_request_count().await, 0, "no refresh token was sent to an unverified issuer");
    assert_untouched(&h, &before);

    drop(bad);
    idp.mount_discovery().await;
    assert_recovers(&idp, &h).await;
}

/// The definitive contrast: the session expires, tokens kept, and the rejected
/// refresh token is not presented again.
async fn assert_rejection_expires(status: u16, code: &str) {
    let idp = FakeIdp::start().await;
    let h = expired_session(&idp, default_http());
    let stored_before = h.stored_tokens();
    let _fault = idp.on_token(token_error(status, code)).await;

    let result = h.session.fresh_access_token().await;
    assert_eq!(result, Err(SessionError::SignInRequired { reason: ExpiryReason::RefreshRejected }), "{status} {code}");
    match h.session.state() {
        SessionState::Expired { tokens, reason, .. } => {
            assert_eq!(reason, ExpiryReason::RefreshRejected);
            assert_eq!(tokens.access.expose(), "a1");
            assert_eq!(tokens.refresh.as_ref().map(|r| r.expose()), Some("r1"));
        }
        other => panic!("{status} {code}: expected Expired, got {other:?}"),
    }
    let stored = h.stored_tokens().unwrap_or_default();
    assert!(stored.contains("a1") && stored.contains("r1"), "tokens deleted on {code}");
    assert_eq!(h.stored_tokens().is_some(), stored_before.is_some());

    assert!(h.session.fresh_access_token().await.is_err());
    assert!(h.session.refresh().await.is_err());
    assert_eq!(idp.token_request_count().await, 1, "a rejected refresh token was presented again");
}

#[tokio::test]
async fn invalid_grant_expires_the_session_and_keeps_the_tokens() {
    assert_rejection_expires(400, "invalid_grant").await;
}

#[tokio::test]
async fn invalid_client_expires_the_session_and_keeps_the_tokens() {
    assert_rejection_expires(400, "invalid_client").await;
    assert_rejection_expires(401, "invalid_client").await;
}

#[tokio::test]
async fn a_refresh_without_a_new_refresh_token_keeps_the_old_one() {
    let idp = FakeIdp::start().await;
    let h = expired_session(&idp, default_http());
    let _ok = idp.on_token(token_ok("a2", None, 3600)).await;

    let token = h.session.fresh_access_token().await;
    assert_eq!(token.map(|t| t.expose().to_owned()), Ok("a2".to_owned()));
    assert_eq!(h.held(), Some(("a2".to_owned(), Some("r1".to_owned()))));
    let stored = h.stored_tokens().unwrap_or_default();
    assert!(stored.contains("a2") && stored.contains("r1"));

    let requests = idp.token_requests().await;
    assert_eq!(requests.len(), 1);
    assert_eq!(form_field(&requests[0], "grant_type").as_deref(), Some("refresh_token"));
    assert_eq!(form_field(&requests[0], "refresh_token").as_deref(), Some("r1"));
    assert_eq!(form_field(&requests[0], "client_id").as_deref(), Some(common::fake_idp::CLIENT_ID));

    // The kept refresh token is the one presented next time.
    h.session.refresh().await.expect("second refresh");
    let requests = idp.token_requests().await;
    assert_eq!(form_field(&requests[1], "refresh_token").as_deref(), Some("r1"));
}

#[tokio::test]
async fn a_rotated_refresh_token_replaces_the_old_one() {
    let idp = FakeIdp::start().await;
    let h = expired_session(&idp, default_http());
    let first = idp.on_token(token_ok("a2", Some("r2"), 3600)).await;
    let token = h.session.fresh_access_token().await;
    assert_eq!(token.map(|t| t.expose().to_owned()), Ok("a2".to_owned()));
    assert_eq!(h.held(), Some(("a2".to_owned(), Some("r2".to_owned()))));
    let stored = h.stored_tokens().unwrap_or_default();
    assert!(stored.contains("r2") && !stored.contains("\"r1\""), "old refresh token still stored");
    drop(first);

    let _second = idp.on_token(token_ok("a3", Some("r3"), 3600)).await;
    h.session.refresh().await.expect("second refresh");
    let requests = idp.token_requests().await;
    assert_eq!(requests.len(), 2);
    assert_eq!(form_field(&requests[1], "refresh_token").as_deref(), Some("r2"), "the rotated token was not used");
    assert_eq!(h.held(), Some(("a3".to_owned(), Some("r3".to_owned()))));
}

/// A session whose provider advertises `revocation` (an HTTPS endpoint), reached through a client trusting it.
async fn session_revoking_at(revocation: &TlsEndpoint) -> (FakeIdp, IdpHarness) {
    let idp = FakeIdp::start_with(IdpOptions {
        revocation_endpoint: Some(revocation.url().to_owned()),
        ..IdpOptions::default()
    })
    .await;
    let http = tls_client(default_http());
    let h = signed_in_through(http, idp.provider(), RESOURCE, grant("a1", Some("r1"), 3600), no_backoff());
    (idp, h)
}

fn assert_signed_out(h: &IdpHarness) {
    assert_eq!(h.session.state(), SessionState::NoSession);
    assert_eq!(h.stored_tokens(), None, "secrets not deleted");
    assert!(!h.secrets.all_keys().iter().any(|k| k.ends_with(ALIAS)), "secrets left: {:?}", h.secrets.all_keys());
}

#[tokio::test]
async fn sign_out_with_the_revocation_endpoint_down_still_signs_out() {
    let revocation = TlsEndpoint::start(503);
    let (_idp, h) = session_revoking_at(&revocation).await;

    let report = h.session.sign_out().await.expect("signed out locally");
    assert_eq!(
        report.revocation,
        RevocationOutcome::Failed(RefreshError::Transient { kind: TransientKind::ServerError, retry_after: None })
    );
    assert_signed_out(&h);
    assert_eq!(revocation.bodies().len(), 1, "the revocation was attempted");
}

#[tokio::test]
async fn sign_out_revokes_the_refresh_token() {
    let revocation = TlsEndpoint::start(200);
    let (_idp, h) = session_revoking_at(&revocation).await;

    let report = h.session.sign_out().await.expect("signed out");
    assert_eq!(report.revocation, RevocationOutcome::Revoked);
    assert_signed_out(&h);
    let bodies = revocation.bodies();
    assert_eq!(bodies.len(), 1);
    let form: Vec<(String, String)> = url::form_urlencoded::parse(bodies[0].as_bytes()).into_owned().collect();
    assert!(form.contains(&("token".into(), "r1".into())), "revocation body: {form:?}");
    assert!(form.contains(&("token_type_hint".into(), "refresh_token".into())), "revocation body: {form:?}");
    assert!(!form.iter().any(|(_, v)| v == "a1"), "the access token was sent instead");
}

#[tokio::test]
async fn sign_out_without_a_revocation_endpoint_is_not_supported() {
    let idp = FakeIdp::start_with(IdpOptions { revocation: false, ..IdpOptions::default() }).await;
    let h = signed_in(idp.provider(), RESOURCE, default_http(), grant("a1", Some("r1"), 3600));

    let report = h.session.sign_out().await.expect("signed out");
    assert_eq!(report.revocation, RevocationOutcome::NotSupported);
    assert_signed_out(&h);
    assert!(idp.revocation_requests().await.is_empty());
}

#[tokio::test]
async fn sign_out_with_a_plain_http_revocation_endpoint_signs_out_and_reports_the_refusal() {
    // `oauth2` refuses to revoke over plain HTTP: nothing is sent, the device is signed out anyway.
    let idp = FakeIdp::start().await;
    let h = signed_in(idp.provider(), RESOURCE, default_http(), grant("a1", Some("r1"), 3600));

    let report = h.session.sign_out().await.expect("signed out");
    assert!(
        matches!(&report.revocation, RevocationOutcome::Failed(RefreshError::Configuration { detail }) if detail.contains("HTTPS")),
        "{:?}",
        report.revocation
    );
    assert_signed_out(&h);
    assert!(idp.revocation_requests().await.is_empty());
}

// Short-lived tokens (shorter than the 300 s threshold) are refreshed at half-life, once.

#[tokio::test]
async fn a_token_shorter_lived_than_the_threshold_is_refreshed_once_at_half_life() {
    let idp = FakeIdp::start().await;
    // 60 s tokens, as oidc-provider issues in tests/peers, all "within" the 300 s threshold.
    let h = signed_in(idp.provider(), RESOURCE, default_http(), grant("a1", Some("r1"), 60));
    let _ok = idp.on_token(token_ok("a2", Some("r2"), 60)).await;
    h.clock.advance(Duration::seconds(29));
    let early = h.session.fresh_access_token().await.map(|t| t.expose().to_owned());
    assert_eq!(early, Ok("a1".to_owned()), "used until half its lifetime");
    assert_eq!(idp.token_request_count().await, 0);
    h.clock.advance(Duration::seconds(1));
    for _ in 0..3 {
        let token = h.session.fresh_access_token().await.map(|t| t.expose().to_owned());
        assert_eq!(token, Ok("a2".to_owned()));
    }
    assert_eq!(idp.token_request_count().await, 1, "one refresh, and the new token is used");
}

#[tokio::test]
async fn a_refresh_held_back_by_retry_after_still_reports_rate_limited() {
    let idp = FakeIdp::start().await;
    let h = expired_session(&idp, default_http());
    let _fault = idp.on_token(rate_limited(120)).await;
    assert_try_later(h.session.fresh_access_token().await, TransientKind::RateLimited);
    h.clock.advance(Duration::seconds(60));
    assert_try_later(h.session.fresh_access_token().await, TransientKind::RateLimited);
    assert_eq!(idp.token_request_count().await, 1, "held back, not sent");
}
