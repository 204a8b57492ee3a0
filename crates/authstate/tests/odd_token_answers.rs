//! Odd token answers get accurate errors (issue #13): `expires_in` as a
//! string, a float, `1e30` or 2⁶³ is read (clamped to 10 years), a negative
//! one is refused naming `expires_in`, and a token with CR/LF, whitespace or
//! a non-ASCII character is refused without quoting it — at sign-in as
//! "the server's answer is invalid", at refresh as a transient malformed
//! answer that leaves the session untouched. For TokenPair, OpaqueToken
//! and OIDC alike (wiremock).

mod common;

use std::sync::Arc;

use authstate::backends::answer::MAX_EXPIRES_IN;
use authstate::{
    AccountError, Authenticator, LoginError, ProviderKind, Secret, SessionError, TokenGrant, TransientKind,
};
use common::devices::{API, Device, opaque, simplejwt};
use common::fake_idp::{ALIAS, FakeIdp, REDIRECT_URI, default_http, signed_in};
use common::grant;
use serde_json::{Value, json};
use time::Duration;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Lifetimes a server may write, and what the session should make of them.
fn lifetimes() -> Vec<(Value, i64)> {
    vec![
        (json!(3600), 3600),
        (json!("3600"), 3600),
        (json!(3599.6), 3600),
        (json!(1e30), MAX_EXPIRES_IN),
        (json!(9_223_372_036_854_775_808_u64), MAX_EXPIRES_IN),
        (json!("99999999999999999999"), MAX_EXPIRES_IN),
    ]
}

/// Answers a sign-in or refresh must refuse, each with what the error must say.
fn unusable(token_field: &str) -> Vec<(Value, &'static str)> {
    let with = |access: &str, extra: Value| {
        let mut body = json!({ token_field: access, "refresh": "refresh-x", "refresh_token": "refresh-x" });
        if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
            body.extend(extra);
        }
        body
    };
    vec![
        (with("ok", json!({"expires_in": -5})), "expires_in is negative"),
        (with("ok", json!({"expires_in": "-5"})), "expires_in is negative"),
        (with("ok", json!({"expires_in": "an hour"})), "expires_in is a string that is not a number"),
        (with("ok", json!({"expires_in": true})), "expires_in is a boolean"),
        (with("acc\r\nSet-Cookie: x=1", json!({})), "access token contains a control character"),
        (with("acc ess", json!({})), "access token contains a control character, whitespace"),
        (with("acc\u{e9}ss", json!({})), "non-ASCII"),
        (with("ok", json!({"refresh": "r\r\n", "refresh_token": "r\r\n"})), "refresh token contains"),
    ]
}

fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

/// The access token's lifetime as the session dated it.
fn lifetime_of(session: &authstate::ServerSession) -> Option<i64> {
    let tokens = session.state().tokens().cloned()?;
    tokens.expires_at.map(|at| (at - tokens.received_at).whole_seconds())
}

#[tokio::test]
async fn token_pair_sign_in_reads_odd_lifetimes_and_names_what_is_wrong() {
    let server = MockServer::start().await;
    let device = Device::new(&server.uri(), simplejwt());
    let password = Secret::new("pw-never-shown");
    for (expires_in, want) in lifetimes() {
        let body = json!({"access": "acc", "refresh": "ref", "expires_in": expires_in});
        let _answer = Mock::given(path("/api/token/")).respond_with(ok(body)).mount_as_scoped(&server).await;
        device.auth.sign_in_with_password(API, "alice", &password, None).await.expect("signs in");
        assert_eq!(lifetime_of(&device.session), Some(want), "expires_in {expires_in}");
    }
    device.session.logout().expect("sign out");
    for (body, says) in unusable("access") {
        let _answer = Mock::given(path("/api/token/")).respond_with(ok(body.clone())).mount_as_scoped(&server).await;
        let error = device.auth.sign_in_with_password(API, "alice", &password, None).await.expect_err("refused");
        let shown = error.to_string();
        assert!(matches!(error, LoginError::Configuration(_)), "{body}: {error:?}");
        assert!(shown.contains("the server's answer is invalid") && shown.contains(says), "{body}: {shown}");
        assert!(!shown.contains("Set-Cookie") && !shown.contains("acc ess"), "a token is quoted: {shown}");
        assert_eq!(device.session.state_kind(), authstate::StateKind::NoSession, "{body}");
    }
}

#[tokio::test]
async fn token_pair_refresh_treats_an_unusable_answer_as_malformed_and_keeps_the_tokens() {
    let server = MockServer::start().await;
    let device = Device::new(&server.uri(), simplejwt());
    let signed = TokenGrant { refresh: Some(Secret::new("refresh-0")), ..grant("access-0", None, 60) };
    device.session.sign_in(ProviderKind::TokenPair, signed).expect("sign in");
    for (body, _) in unusable("access") {
        device.advance(61);
        let state = device.session.state();
        let answer = Mock::given(method("POST")).and(path("/api/token/refresh/")).respond_with(ok(body.clone()));
        let _guard = answer.mount_as_scoped(&server).await;
        let error = device.session.fresh_access_token().await.expect_err("refused");
        let SessionError::TryLater { kind, .. } = error else { panic!("{body}: {error:?}") };
        assert_eq!(kind, TransientKind::MalformedResponse, "{body}");
        assert_eq!(device.session.state(), state, "{body}: the session is untouched");
    }
    for (expires_in, want) in lifetimes() {
        device.advance(MAX_EXPIRES_IN + 1);
        let body = json!({"access": "access-1", "expires_in": expires_in});
        let answer = Mock::given(method("POST")).and(path("/api/token/refresh/")).respond_with(ok(body));
        let _guard = answer.mount_as_scoped(&server).await;
        let fresh = device.session.fresh_access_token().await.expect("refreshes");
        assert_eq!(fresh.expose(), "access-1");
        assert_eq!(lifetime_of(&device.session), Some(want), "expires_in {expires_in}");
    }
}

#[tokio::test]
async fn opaque_sign_in_and_password_change_refuse_unusable_tokens() {
    let server = MockServer::start().await;
    let device = Device::new(&server.uri(), opaque());
    let password = Secret::new("pw-never-shown");
    for (body, says) in unusable("token").into_iter().filter(|(_, says)| says.contains("access")) {
        let login = Mock::given(path("/api/v1/auth/login/")).respond_with(ok(body.clone()));
        let _guard = login.mount_as_scoped(&server).await;
        let error = device.auth.sign_in_with_password(API, "alice", &password, None).await.expect_err("refused");
        assert!(matches!(&error, LoginError::Configuration(d) if d.contains(says)), "{body}: {error:?}");
    }
    device.session.sign_in(ProviderKind::OpaqueToken, TokenGrant::access_only("device-key")).expect("sign in");
    let change = Mock::given(path("/api/v1/auth/password/")).respond_with(ok(json!({"token": "new\nkey"})));
    let _guard = change.mount_as_scoped(&server).await;
    let error = device
        .auth
        .change_password(API, &password, &Secret::new("new-password"))
        .await
        .expect_err("a token with a newline is refused");
    assert!(matches!(&error, AccountError::Configuration(d) if d.contains("access token contains")), "{error:?}");
    assert_eq!(device.access(), "device-key", "the stored token is kept");
}

/// An OIDC session whose access token has expired, so the next use refreshes.
fn expired_oidc(idp: &FakeIdp) -> common::fake_idp::IdpHarness {
    let h = signed_in(idp.provider(), "https://api.example", default_http(), grant("a1", Some("r1"), 60));
    h.clock.advance(Duration::seconds(120));
    h
}

#[tokio::test]
async fn oidc_refresh_reads_odd_lifetimes_and_keeps_the_session_on_unusable_answers() {
    let idp = FakeIdp::start().await;
    let h = expired_oidc(&idp);
    for (body, _) in unusable("access_token") {
        let mut body = body;
        body["token_type"] = json!("Bearer");
        let before = h.session.state();
        let _fault = idp.on_token(ok(body.clone())).await;
        let error = h.session.fresh_access_token().await.expect_err("refused");
        let SessionError::TryLater { kind, .. } = error else { panic!("{body}: {error:?}") };
        assert_eq!(kind, TransientKind::MalformedResponse, "{body}");
        assert_eq!(h.session.state(), before, "{body}: the session is untouched");
        assert_eq!(h.held(), Some(("a1".to_owned(), Some("r1".to_owned()))));
    }
    for (expires_in, want) in lifetimes() {
        h.clock.advance(Duration::seconds(MAX_EXPIRES_IN + 1));
        let body = json!({"access_token": "a2", "token_type": "bearer", "expires_in": expires_in});
        let _answer = idp.on_token(ok(body)).await;
        let fresh = h.session.fresh_access_token().await.unwrap_or_else(|e| panic!("{expires_in}: {e}"));
        assert_eq!(fresh.expose(), "a2");
        assert_eq!(lifetime_of(&h.session), Some(want), "expires_in {expires_in}");
    }
}

#[tokio::test]
async fn oidc_sign_in_says_the_answer_is_invalid() {
    let idp = FakeIdp::start().await;
    let h = expired_oidc(&idp);
    let auth = Authenticator::new(h.manager.clone(), Arc::new(h.backends.clone()));
    for (body, says) in unusable("access_token") {
        let mut body = body;
        body["token_type"] = json!("Bearer");
        let _answer = idp.on_token(ok(body.clone())).await;
        let url = auth.begin_login(ALIAS, None).await.expect("begin");
        let state = url.query_pairs().find(|(k, _)| k == "state").map(|(_, v)| v.into_owned()).expect("state");
        let callback = format!("{REDIRECT_URI}?code=c&state={state}");
        let error = auth.complete_login(&callback).await.expect_err("refused");
        let shown = error.to_string();
        assert!(matches!(error, LoginError::Configuration(_)), "{body}: {error:?}");
        assert!(shown.contains("the server's answer is invalid") && shown.contains(says), "{body}: {shown}");
    }
    // No access token at all is said as such.
    let missing = idp.on_token(ok(json!({"token_type": "Bearer", "expires_in": 60}))).await;
    let url = auth.begin_login(ALIAS, None).await.expect("begin");
    let state = url.query_pairs().find(|(k, _)| k == "state").map(|(_, v)| v.into_owned()).expect("state");
    let error = auth.complete_login(&format!("{REDIRECT_URI}?code=c&state={state}")).await.expect_err("refused");
    assert!(matches!(&error, LoginError::Configuration(d) if d.contains("has no access token")), "{error:?}");
    drop(missing);
    // An answer that does not parse at all names the field, not its value.
    let _answer = idp.on_token(ok(json!({"access_token": ["x"], "token_type": "Bearer"}))).await;
    let url = auth.begin_login(ALIAS, None).await.expect("begin");
    let state = url.query_pairs().find(|(k, _)| k == "state").map(|(_, v)| v.into_owned()).expect("state");
    let error = auth.complete_login(&format!("{REDIRECT_URI}?code=c&state={state}")).await.expect_err("refused");
    assert!(matches!(&error, LoginError::Configuration(d) if d.contains("`access_token`")), "{error:?}");
}
