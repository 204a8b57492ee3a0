//! The real Django REST framework peer answers on the wire as PEERS.md says
//! (simplejwt pairs: rotation, blacklisting, the bearer-header and query
//! refresh endpoints; knox device sessions: login, probe, session list and
//! revocation, logout, logout-all, password change, expiry), keeps its tokens
//! across a restart, counts requests, takes 200 connections at once, and
//! can be paused.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::django_peer::{DjangoCounts, DjangoOptions, DjangoPeer, http_client};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};

/// What a request got back.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    www_authenticate: Option<String>,
    /// `Value::Null` when the body is empty.
    body: Value,
}

async fn answer(request: RequestBuilder) -> Answer {
    let response = request.send().await.expect("request to the django peer");
    let status = response.status();
    let www_authenticate =
        response.headers().get("www-authenticate").map(|v| v.to_str().expect("ASCII header").to_owned());
    let text = response.text().await.expect("response body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status} body is not JSON ({e}): {text}"))
    };
    Answer { status, www_authenticate, body }
}

async fn post_json(peer: &DjangoPeer, path: &str, body: Value) -> Answer {
    answer(http_client().post(peer.url(path)).json(&body)).await
}

/// A request carrying `Authorization: <scheme> <token>`.
async fn with_token(peer: &DjangoPeer, method: Method, path: &str, scheme: &str, token: &str) -> Answer {
    answer(http_client().request(method, peer.url(path)).header("Authorization", format!("{scheme} {token}"))).await
}

fn text<'a>(body: &'a Value, name: &str) -> &'a str {
    body[name].as_str().unwrap_or_else(|| panic!("no string {name} in {body}"))
}

fn keys(body: &Value) -> BTreeSet<&str> {
    body.as_object().unwrap_or_else(|| panic!("not an object: {body}")).keys().map(String::as_str).collect()
}

fn set<'a>(names: &[&'a str]) -> BTreeSet<&'a str> {
    names.iter().copied().collect()
}

/// Polls `check` every 100 ms until it holds; panics after 15 s.
async fn eventually<F: AsyncFn() -> bool>(what: &str, check: F) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !check().await {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---- simplejwt ----

/// `POST api/token/`; asserts 200 and returns `(access, refresh)`.
async fn jwt_login(peer: &DjangoPeer, user: &str, password: &str) -> (String, String) {
    let got = post_json(peer, "api/token/", json!({"username": user, "password": password})).await;
    assert_eq!(got.status, StatusCode::OK, "jwt login: {:?}\n{}", got.body, peer.log());
    assert_eq!(keys(&got.body), set(&["access", "refresh"]));
    (text(&got.body, "access").to_owned(), text(&got.body, "refresh").to_owned())
}

async fn jwt_refresh(peer: &DjangoPeer, refresh: &str) -> Answer {
    post_json(peer, "api/token/refresh/", json!({ "refresh": refresh })).await
}

fn assert_blacklisted(got: &Answer) {
    assert_eq!(got.status, StatusCode::UNAUTHORIZED, "{:?}", got.body);
    assert_eq!(got.body, json!({"detail": "Token is blacklisted", "code": "token_not_valid"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_login_refresh_rotation_and_blacklist() {
    let Some(peer) = DjangoPeer::start(DjangoOptions::default()).await else { return };
    peer.create_user("alice", "pw-alice").await;

    let wrong = post_json(&peer, "api/token/", json!({"username": "alice", "password": "nope"})).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.body, json!({"detail": "No active account found with the given credentials"}));

    let (access, first) = jwt_login(&peer, "alice", "pw-alice").await;
    let me = with_token(&peer, Method::GET, "api/me/", "Bearer", &access).await;
    assert_eq!((me.status, me.body), (StatusCode::OK, json!({"username": "alice"})));

    let rotated = jwt_refresh(&peer, &first).await;
    assert_eq!(rotated.status, StatusCode::OK, "{:?}", rotated.body);
    assert_eq!(keys(&rotated.body), set(&["access", "refresh"]));
    let second = text(&rotated.body, "refresh").to_owned();
    assert_ne!(second, first, "refresh tokens rotate");
    let access2 = text(&rotated.body, "access");
    assert_eq!(with_token(&peer, Method::GET, "api/me/", "Bearer", access2).await.status, StatusCode::OK);

    assert_blacklisted(&jwt_refresh(&peer, &first).await);
    let after_reuse = jwt_refresh(&peer, &second).await;
    assert_eq!(after_reuse.status, StatusCode::OK, "no family revocation: {:?}", after_reuse.body);
    let third = text(&after_reuse.body, "refresh").to_owned();

    let logout = post_json(&peer, "api/token/blacklist/", json!({ "refresh": third })).await;
    assert_eq!((logout.status, logout.body), (StatusCode::OK, json!({})));
    assert_blacklisted(&jwt_refresh(&peer, &third).await);
    let again = post_json(&peer, "api/token/blacklist/", json!({ "refresh": third })).await;
    assert_blacklisted(&again);
    let me = with_token(&peer, Method::GET, "api/me/", "Bearer", &access).await;
    assert_eq!(me.status, StatusCode::OK, "access tokens outlive a blacklisted refresh token");

    let missing = post_json(&peer, "api/token/refresh/", json!({})).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.body, json!({"refresh": ["This field is required."]}));

    let forbidden = with_token(&peer, Method::GET, "api/forbidden/", "Bearer", &access).await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    assert_eq!(forbidden.body, json!({"detail": "You do not have permission to perform this action."}));
    let anonymous = answer(http_client().get(peer.url("api/me/"))).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.www_authenticate.as_deref(), Some(r#"Bearer realm="api""#));

    let counts = peer.counts().await;
    let expected = DjangoCounts { jwt_login: 2, jwt_refresh: 5, jwt_blacklist: 2, me: 4, ..DjangoCounts::default() };
    assert_eq!(counts, expected);
    peer.reset_counts().await;
    assert_eq!(peer.counts().await, DjangoCounts::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_expired_access_token() {
    let opts = DjangoOptions { access_ttl_secs: 1, ..DjangoOptions::default() };
    let Some(peer) = DjangoPeer::start(opts).await else { return };
    peer.create_user("alice", "pw").await;
    let (access, refresh) = jwt_login(&peer, "alice", "pw").await;

    eventually("the access token expires", async || {
        with_token(&peer, Method::GET, "api/me/", "Bearer", &access).await.status == StatusCode::UNAUTHORIZED
    })
    .await;
    let expired = with_token(&peer, Method::GET, "api/me/", "Bearer", &access).await;
    assert_eq!(expired.www_authenticate.as_deref(), Some(r#"Bearer realm="api""#));
    assert_eq!(text(&expired.body, "detail"), "Given token not valid for any token type");
    assert_eq!(text(&expired.body, "code"), "token_not_valid");
    assert_eq!(expired.body["messages"][0]["message"], "Token is expired", "{}", expired.body);

    let renewed = jwt_refresh(&peer, &refresh).await;
    assert_eq!(renewed.status, StatusCode::OK, "{:?}", renewed.body);
    let me = with_token(&peer, Method::GET, "api/me/", "Bearer", text(&renewed.body, "access")).await;
    assert_eq!(me.status, StatusCode::OK);
}

async fn refresh_bearer(peer: &DjangoPeer, refresh: &str) -> Answer {
    with_token(peer, Method::POST, "api/token/refresh-bearer/", "Bearer", refresh).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_bearer_and_query_refresh_endpoints() {
    let Some(peer) = DjangoPeer::start(DjangoOptions::default()).await else { return };
    peer.create_user("alice", "pw").await;
    let (access, first) = jwt_login(&peer, "alice", "pw").await;

    let rotated = refresh_bearer(&peer, &first).await;
    assert_eq!(rotated.status, StatusCode::OK, "{:?}", rotated.body);
    assert_eq!(keys(&rotated.body), set(&["access", "refresh"]));
    assert_ne!(text(&rotated.body, "refresh"), first);
    assert_blacklisted(&refresh_bearer(&peer, &first).await);

    let wrong_type = refresh_bearer(&peer, &access).await;
    assert_eq!(wrong_type.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_type.body, json!({"detail": "Token has wrong type", "code": "token_not_valid"}));
    let no_header = answer(http_client().post(peer.url("api/token/refresh-bearer/"))).await;
    assert_eq!(no_header.status, StatusCode::UNAUTHORIZED);
    assert_eq!(no_header.body, json!({"detail": "Authentication credentials were not provided."}));

    let no_query = post_json(&peer, "api/token/refresh-query/", json!({"refresh_token": "in the body"})).await;
    assert_eq!(no_query.status, StatusCode::UNPROCESSABLE_ENTITY);
    let fastapi = json!({"detail": [{"loc": ["query", "refresh_token"], "msg": "field required", "type": "value_error.missing"}]});
    assert_eq!(no_query.body, fastapi);
    let mut url = url::Url::parse(&peer.url("api/token/refresh-query/")).expect("peer URL");
    url.query_pairs_mut().append_pair("refresh_token", text(&rotated.body, "refresh"));
    let query = answer(http_client().post(url)).await;
    assert_eq!(query.status, StatusCode::OK, "{:?}", query.body);

    assert_eq!(peer.counts().await.jwt_refresh, 6, "all three refresh endpoints count as jwt_refresh");
}

// ---- knox ----

/// `POST api/v1/auth/login/`; asserts 200 and the response's shape.
async fn knox_login(peer: &DjangoPeer, user: &str, password: &str, label: Option<&str>) -> Value {
    let mut body = json!({"username": user, "password": password});
    if let Some(label) = label {
        body["device_label"] = json!(label);
    }
    let got = post_json(peer, "api/v1/auth/login/", body).await;
    assert_eq!(got.status, StatusCode::OK, "knox login: {:?}\n{}", got.body, peer.log());
    assert_login_shape(&got.body, user);
    got.body
}

fn assert_login_shape(body: &Value, user: &str) {
    assert_eq!(keys(body), set(&["token", "expiry", "session", "multi_device", "other_sessions_count", "user"]));
    assert_eq!(keys(&body["session"]), set(&["id", "device_label", "created_at", "last_seen_at"]));
    assert_eq!(body["user"], json!({ "username": user }));
    let token = text(body, "token");
    assert!(token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()), "knox token {token}");
    let others = body["other_sessions_count"].as_u64().expect("other_sessions_count");
    assert_eq!(body["multi_device"], json!(others > 0));
}

fn token(login: &Value) -> &str {
    text(login, "token")
}

fn session_id(login: &Value) -> u64 {
    login["session"]["id"].as_u64().unwrap_or_else(|| panic!("no session id in {login}"))
}

/// `GET api/v1/auth/session/` with the given Authorization header value; asserts 200.
async fn probe(peer: &DjangoPeer, authorization: Option<&str>) -> Value {
    let mut request = http_client().get(peer.url("api/v1/auth/session/"));
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    let got = answer(request).await;
    assert_eq!(got.status, StatusCode::OK, "the probe always answers 200: {:?}", got.body);
    got.body
}

async fn authenticated(peer: &DjangoPeer, knox_token: &str) -> bool {
    let body = probe(peer, Some(&format!("Token {knox_token}"))).await;
    body["authenticated"].as_bool().unwrap_or_else(|| panic!("no authenticated flag in {body}"))
}

async fn knox_get(peer: &DjangoPeer, path: &str, knox_token: &str) -> Answer {
    with_token(peer, Method::GET, path, "Token", knox_token).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knox_login_shape_probe_and_permissions() {
    let Some(peer) = DjangoPeer::start(DjangoOptions::default()).await else { return };
    peer.create_user("alice", "pw").await;

    let bad = post_json(&peer, "api/v1/auth/login/", json!({"username": "alice", "password": "nope"})).await;
    assert_eq!((bad.status, bad.body), (StatusCode::BAD_REQUEST, json!({"detail": "Invalid credentials."})));

    let laptop = knox_login(&peer, "alice", "pw", Some("laptop")).await;
    assert_eq!((laptop["other_sessions_count"].as_u64(), laptop["multi_device"].as_bool()), (Some(0), Some(false)));
    assert_eq!(laptop["session"]["device_label"], "laptop");
    let guessed = answer(
        http_client()
            .post(peer.url("api/v1/auth/login/"))
            .header("User-Agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)")
            .json(&json!({"username": "alice", "password": "pw"})),
    )
    .await;
    assert_eq!(guessed.status, StatusCode::OK);
    assert_login_shape(&guessed.body, "alice");
    assert_eq!(guessed.body["session"]["device_label"], "iPhone", "label from the User-Agent");
    assert_eq!(
        (guessed.body["other_sessions_count"].as_u64(), guessed.body["multi_device"].as_bool()),
        (Some(1), Some(true))
    );
    assert_ne!(token(&laptop), token(&guessed.body), "one token per device");

    let good = probe(&peer, Some(&format!("Token {}", token(&laptop)))).await;
    assert_eq!(keys(&good), set(&["authenticated", "user", "session", "expiry"]));
    assert_eq!((&good["authenticated"], &good["user"]), (&json!(true), &json!({"username": "alice"})));
    assert_eq!(good["session"]["id"].as_u64(), Some(session_id(&laptop)));
    assert!(!good.to_string().contains(token(&laptop)), "the probe never echoes the token: {good}");

    let garbage = "0".repeat(64);
    let not_valid = [None, Some("Token"), Some("Token a b"), Some("Bearer x"), Some(&format!("Token {garbage}")[..])];
    for authorization in not_valid {
        assert_eq!(probe(&peer, authorization).await, json!({"authenticated": false}), "probe with {authorization:?}");
    }

    let me = knox_get(&peer, "api/v1/me/", token(&laptop)).await;
    assert_eq!((me.status, me.body), (StatusCode::OK, json!({"username": "alice"})));
    let forbidden = knox_get(&peer, "api/v1/forbidden/", token(&laptop)).await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    let anonymous = answer(http_client().get(peer.url("api/v1/me/"))).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.www_authenticate.as_deref(), Some("Token"));
    let unknown = knox_get(&peer, "api/v1/me/", &garbage).await;
    assert_eq!((unknown.status, unknown.body), (StatusCode::UNAUTHORIZED, json!({"detail": "Invalid token."})));
}

async fn revoke(peer: &DjangoPeer, knox_token: &str, id: u64) -> Answer {
    with_token(peer, Method::DELETE, &format!("api/v1/auth/sessions/{id}/"), "Token", knox_token).await
}

async fn change_password(peer: &DjangoPeer, knox_token: &str, old: &str, new: &str) -> Answer {
    let request = http_client()
        .post(peer.url("api/v1/auth/password/"))
        .header("Authorization", format!("Token {knox_token}"))
        .json(&json!({"old_password": old, "new_password": new}));
    answer(request).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knox_sessions_list_and_revoke() {
    let Some(peer) = DjangoPeer::start(DjangoOptions::default()).await else { return };
    peer.create_user("alice", "pw").await;
    peer.create_user("bob", "pw").await;
    let a = knox_login(&peer, "alice", "pw", Some("a")).await;
    let b = knox_login(&peer, "alice", "pw", Some("b")).await;
    let bob = knox_login(&peer, "bob", "pw", None).await;

    let list = knox_get(&peer, "api/v1/auth/sessions/", token(&a)).await;
    assert_eq!(list.status, StatusCode::OK);
    let rows = list.body.as_array().unwrap_or_else(|| panic!("a list: {:?}", list.body));
    assert_eq!(rows.len(), 2, "alice's sessions only: {:?}", list.body);
    for row in rows {
        assert_eq!(keys(row), set(&["id", "device_label", "created_at", "last_seen_at", "is_current"]));
        assert_eq!(row["is_current"].as_bool(), Some(row["id"].as_u64() == Some(session_id(&a))), "{row}");
    }
    let listed = list.body.to_string();
    assert!(!listed.contains(token(&a)) && !listed.contains(token(&b)), "no keys in the list: {listed}");

    let cross_user = revoke(&peer, token(&bob), session_id(&b)).await;
    assert_eq!((cross_user.status, cross_user.body), (StatusCode::NOT_FOUND, json!({"detail": "Not found."})));
    assert_eq!(revoke(&peer, token(&a), 999_999).await.status, StatusCode::NOT_FOUND);
    assert!(authenticated(&peer, token(&b)).await, "bob could not revoke alice's session");

    let other = revoke(&peer, token(&a), session_id(&b)).await;
    assert_eq!((other.status, other.body), (StatusCode::NO_CONTENT, Value::Null));
    assert!(!authenticated(&peer, token(&b)).await);
    assert!(authenticated(&peer, token(&a)).await);
    assert_eq!(revoke(&peer, token(&a), session_id(&a)).await.status, StatusCode::NO_CONTENT, "revoke this device");
    assert!(!authenticated(&peer, token(&a)).await);
    assert!(authenticated(&peer, token(&bob)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knox_logout_and_logoutall() {
    let Some(peer) = DjangoPeer::start(DjangoOptions::default()).await else { return };
    peer.create_user("alice", "pw").await;
    peer.create_user("bob", "pw").await;
    let [a, b, c] = [
        knox_login(&peer, "alice", "pw", None).await,
        knox_login(&peer, "alice", "pw", None).await,
        knox_login(&peer, "alice", "pw", None).await,
    ];
    let bob = knox_login(&peer, "bob", "pw", None).await;

    let logout = with_token(&peer, Method::POST, "api/v1/auth/logout/", "Token", token(&a)).await;
    assert_eq!((logout.status, logout.body), (StatusCode::NO_CONTENT, Value::Null));
    assert!(!authenticated(&peer, token(&a)).await);
    let gone = knox_get(&peer, "api/v1/me/", token(&a)).await;
    assert_eq!((gone.status, gone.body), (StatusCode::UNAUTHORIZED, json!({"detail": "Invalid token."})));
    assert!(authenticated(&peer, token(&b)).await && authenticated(&peer, token(&c)).await, "other devices stay");

    let all = with_token(&peer, Method::POST, "api/v1/auth/logoutall/", "Token", token(&b)).await;
    assert_eq!(all.status, StatusCode::NO_CONTENT);
    assert!(!authenticated(&peer, token(&b)).await && !authenticated(&peer, token(&c)).await);
    assert!(authenticated(&peer, token(&bob)).await, "other users stay");

    let counts = peer.counts().await;
    assert_eq!((counts.knox_login, counts.logout, counts.logoutall, counts.me), (4, 1, 1, 1));
    assert_eq!(counts.probe, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knox_password_change_rotates_sessions() {
    let Some(peer) = DjangoPeer::start(DjangoOptions::default()).await else { return };
    peer.create_user("alice", "old-pw").await;
    let here = knox_login(&peer, "alice", "old-pw", Some("here")).await;
    let elsewhere = knox_login(&peer, "alice", "old-pw", Some("elsewhere")).await;
    let wrong = change_password(&peer, token(&here), "not-it", "new-pw").await;
    assert_eq!((wrong.status, wrong.body), (StatusCode::BAD_REQUEST, json!({"detail": "Invalid credentials."})));
    assert!(authenticated(&peer, token(&here)).await, "a failed change revokes nothing");

    let changed = change_password(&peer, token(&here), "old-pw", "new-pw").await;
    assert_eq!(changed.status, StatusCode::OK, "{:?}", changed.body);
    assert_login_shape(&changed.body, "alice");
    assert_eq!(changed.body["session"]["device_label"], "here");
    assert_eq!(changed.body["other_sessions_count"], 0);
    let fresh = token(&changed.body);
    assert_eq!(knox_get(&peer, "api/v1/me/", fresh).await.status, StatusCode::OK);
    assert!(!authenticated(&peer, token(&here)).await, "the old token of this device died");
    assert!(!authenticated(&peer, token(&elsewhere)).await, "every other device was signed out");

    let old = post_json(&peer, "api/v1/auth/login/", json!({"username": "alice", "password": "old-pw"})).await;
    assert_eq!(old.status, StatusCode::BAD_REQUEST);
    knox_login(&peer, "alice", "new-pw", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knox_expired_token() {
    let opts = DjangoOptions { knox_ttl_secs: 3, ..DjangoOptions::default() };
    let Some(peer) = DjangoPeer::start(opts).await else { return };
    peer.create_user("alice", "pw").await;
    let login = knox_login(&peer, "alice", "pw", None).await;
    assert!(authenticated(&peer, token(&login)).await);

    eventually("the knox token expires", async || !authenticated(&peer, token(&login)).await).await;
    let me = knox_get(&peer, "api/v1/me/", token(&login)).await;
    assert_eq!((me.status, me.body), (StatusCode::UNAUTHORIZED, json!({"detail": "Invalid token."})));
}

// ---- the harness ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_tokens_and_restarts_counts() {
    let Some(mut peer) = DjangoPeer::start(DjangoOptions::default()).await else { return };
    peer.create_user("alice", "pw").await;
    let (access, refresh) = jwt_login(&peer, "alice", "pw").await;
    let device = knox_login(&peer, "alice", "pw", None).await;
    let revoked = knox_login(&peer, "alice", "pw", None).await;
    with_token(&peer, Method::POST, "api/v1/auth/logout/", "Token", token(&revoked)).await;
    assert_eq!(peer.counts().await.knox_login, 2);

    peer.stop();
    let refused = http_client().get(peer.base_url()).send().await;
    assert!(refused.as_ref().is_err_and(reqwest::Error::is_connect), "stopped peer answered: {refused:?}");

    peer.restart().await;
    assert_eq!(peer.counts().await, DjangoCounts::default(), "counts restart with the process");
    assert_eq!(with_token(&peer, Method::GET, "api/me/", "Bearer", &access).await.status, StatusCode::OK);
    assert_eq!(jwt_refresh(&peer, &refresh).await.status, StatusCode::OK);
    assert!(authenticated(&peer, token(&device)).await, "knox tokens survive a restart");
    assert!(!authenticated(&peer, token(&revoked)).await, "and revoked ones stay revoked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_connections_at_once() {
    let Some(peer) = DjangoPeer::start(DjangoOptions::default()).await else { return };
    peer.create_user("alice", "pw").await;
    let login = knox_login(&peer, "alice", "pw", None).await;
    let authorization = format!("Token {}", token(&login));

    // HTTP/1.1: each request in flight has a connection of its own.
    let http = http_client();
    let mut probes = tokio::task::JoinSet::new();
    for _ in 0..200 {
        let request = http.get(peer.url("api/v1/auth/session/")).header("Authorization", &authorization);
        probes.spawn(answer(request));
    }
    while let Some(got) = probes.join_next().await {
        let got = got.expect("probe task");
        assert_eq!((got.status, &got.body["authenticated"]), (StatusCode::OK, &json!(true)), "{:?}", got.body);
    }
    assert_eq!(peer.counts().await.probe, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_and_resume() {
    let Some(peer) = DjangoPeer::start(DjangoOptions::default()).await else { return };
    peer.pause();
    let hung = http_client().get(peer.url("__test/counts")).timeout(Duration::from_millis(500)).send().await;
    assert!(hung.as_ref().is_err_and(reqwest::Error::is_timeout), "a paused peer answered: {hung:?}");
    peer.resume();
    assert_eq!(peer.counts().await, DjangoCounts::default());
}
