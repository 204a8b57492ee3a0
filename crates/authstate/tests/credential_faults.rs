//! The TokenPair and OpaqueToken backends against faults a real server will
//! not produce on demand (wiremock): a slow refresh endpoint, 5xx, 429 with
//! `Retry-After`, malformed and empty 200s, a probe that fails the same ways,
//! misrouted sign-ins. Every transient case checks that the session and the
//! stored secret are untouched, and that the session recovers afterwards.

mod common;

use std::time::Duration as StdDuration;

use authstate::http::HttpConfig;
use authstate::storage::SecretStore;
use authstate::{LoginError, ProbeResult, ProviderKind, Secret, SessionError, TokenGrant, TransientKind};
use common::devices::{API, Device, opaque, simplejwt};
use serde_json::json;
use time::Duration;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKENS_KEY: &str = "authstate.tokens.api";

/// A device of `server` signed in with an access token that is due for refresh.
async fn due(server: &MockServer) -> Device {
    let http = HttpConfig { request_timeout: StdDuration::from_millis(500), ..HttpConfig::default() };
    let device = Device::with_http(&server.uri(), simplejwt(), http);
    let grant = TokenGrant {
        access: Secret::new("access-0"),
        refresh: Some(Secret::new("refresh-0")),
        id_token: None,
        expires_in: Some(60),
    };
    device.session.sign_in(ProviderKind::TokenPair, grant).expect("sign in");
    device.advance(61);
    device
}

fn refreshed() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({ "access": "access-1", "refresh": "refresh-1" }))
}

#[tokio::test]
async fn transient_refresh_failures_change_nothing_and_the_session_recovers() {
    let faults: Vec<(&str, ResponseTemplate, TransientKind)> = vec![
        ("500", ResponseTemplate::new(500), TransientKind::ServerError),
        ("503", ResponseTemplate::new(503).set_body_string("<html>down</html>"), TransientKind::ServerError),
        ("429", ResponseTemplate::new(429).insert_header("Retry-After", "7"), TransientKind::RateLimited),
        (
            "html 200",
            ResponseTemplate::new(200).set_body_string("<html>portal</html>"),
            TransientKind::MalformedResponse,
        ),
        (
            "200 without access",
            ResponseTemplate::new(200).set_body_json(json!({"refresh": "r"})),
            TransientKind::MalformedResponse,
        ),
        ("slow", refreshed().set_delay(StdDuration::from_secs(3)), TransientKind::Timeout),
    ];
    for (name, fault, kind) in faults {
        let server = MockServer::start().await;
        let device = due(&server).await;
        let state = device.session.state();
        let stored = device.secrets.get(TOKENS_KEY).expect("stored tokens");
        let guard = Mock::given(method("POST"))
            .and(path("/api/token/refresh/"))
            .respond_with(fault)
            .mount_as_scoped(&server)
            .await;

        let error = device.session.fresh_access_token().await.expect_err(name);
        let SessionError::TryLater { kind: got, retry_after } = error else { panic!("{name}: {error:?}") };
        assert_eq!(got, kind, "{name}");
        if name == "429" {
            assert_eq!(retry_after, Some(Duration::seconds(7)), "{name}: Retry-After is honoured");
        }
        assert_eq!(device.session.state(), state, "{name}: the session is untouched");
        assert_eq!(device.secrets.get(TOKENS_KEY).expect("stored"), stored, "{name}: the stored tokens are untouched");

        drop(guard);
        Mock::given(method("POST")).and(path("/api/token/refresh/")).respond_with(refreshed()).mount(&server).await;
        device.advance(60); // past any Retry-After
        let fresh = device.session.fresh_access_token().await.unwrap_or_else(|e| panic!("{name}: recovers: {e}"));
        assert_eq!(fresh.expose(), "access-1", "{name}");
    }
}

#[tokio::test]
async fn a_probe_that_fails_says_nothing_about_the_token() {
    let http = HttpConfig { request_timeout: StdDuration::from_millis(500), ..HttpConfig::default() };
    let faults = [
        ResponseTemplate::new(500),
        ResponseTemplate::new(502),
        ResponseTemplate::new(429),
        ResponseTemplate::new(200).set_body_string("<html>captive portal</html>"),
        ResponseTemplate::new(200).set_body_json(json!({"authenticated": false})).set_delay(StdDuration::from_secs(3)),
    ];
    for fault in faults {
        let server = MockServer::start().await;
        let device = Device::with_http(&server.uri(), opaque(), http.clone());
        device.session.sign_in(ProviderKind::OpaqueToken, TokenGrant::access_only("device-key")).expect("sign in");
        let state = device.session.state();
        Mock::given(method("GET")).and(path("/api/v1/auth/session/")).respond_with(fault).mount(&server).await;

        assert_eq!(device.session.probe().await, Ok(ProbeResult::Unreachable));
        assert_eq!(device.session.state(), state);
    }

    // A probe path the server does not have is a configuration error; state stays.
    let server = MockServer::start().await;
    let device = Device::with_http(&server.uri(), opaque(), http);
    device.session.sign_in(ProviderKind::OpaqueToken, TokenGrant::access_only("device-key")).expect("sign in");
    let error = device.session.probe().await.expect_err("404");
    assert!(matches!(&error, SessionError::Configuration(d) if d.contains("404")), "{error:?}");
    assert!(device.session.is_authenticated());
}

#[tokio::test]
async fn sign_in_failures_say_what_to_do() {
    let server = MockServer::start().await;
    let device = Device::new(&server.uri(), opaque());
    let password = Secret::new("pw-never-shown");
    let login = |status: u16| {
        Mock::given(method("POST")).and(path("/api/v1/auth/login/")).respond_with(ResponseTemplate::new(status))
    };

    let _down = login(503).mount_as_scoped(&server).await;
    let error = device.auth.sign_in_with_password(API, "alice", &password, None).await.expect_err("503");
    assert!(matches!(error, LoginError::Unreachable(_)), "{error:?}");
    let message = error.to_string();
    assert!(message.starts_with("server unreachable") && !message.contains("identity provider"), "{message}");
    drop(_down);

    let _missing = login(404).mount_as_scoped(&server).await;
    let error = device.auth.sign_in_with_password(API, "alice", &password, None).await.expect_err("404");
    assert!(matches!(error, LoginError::Configuration(_)), "{error:?}");
    drop(_missing);

    let echo =
        ResponseTemplate::new(400).set_body_json(json!({"detail": "bad password pw-never-shown", "code": "invalid"}));
    let _refused =
        Mock::given(method("POST")).and(path("/api/v1/auth/login/")).respond_with(echo).mount_as_scoped(&server).await;
    let error = device.auth.sign_in_with_password(API, "alice", &password, None).await.expect_err("400");
    assert_eq!(error, LoginError::InvalidCredentials("400 (code: invalid)".into()), "the echoed password is left out");

    let wrong_kind = device.auth.begin_login(API, None).await.expect_err("not an OIDC server");
    assert!(matches!(wrong_kind, LoginError::WrongProvider(_)));
    assert_eq!(device.session.state_kind(), authstate::StateKind::NoSession);
}
