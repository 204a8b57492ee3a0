//! Endpoint paths stay on their server (DESIGN.md invariant 15, issue #13):
//! every path of the hostile corpus (`tests/data/hostile_endpoint_paths.txt`)
//! is refused in every endpoint field when a server is added, and a stored
//! record edited to hold one sends no request at all — neither to the
//! listener it aims at nor to the server. Ordinary paths stay accepted.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use authstate::http::{HttpConfig, build_client};
use authstate::model::{
    EndpointPathError, OpaqueTokenConfig, ServerId, TokenPairConfig, check_endpoint_path, endpoint_url,
};
use authstate::storage::KeyValueStore;
use authstate::{AccountError, LoginError, ManagerError, Provider, ProviderKind, Secret, SessionError, TokenGrant};
use common::devices::{API, Device};
use common::endpoint_corpus::{self, Case};
use tokio::net::TcpListener;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const BASE: &str = "https://api.example/tenant-a/";
const RECORD_KEY: &str = "authstate.server.api";

/// Every endpoint field of both credential backends, each set to `path`
/// while the others stay ordinary.
fn providers_with(path: &str) -> Vec<(&'static str, Provider)> {
    let pair = || TokenPairConfig::simplejwt("api/token/");
    let opaque = || OpaqueTokenConfig::under("api/v1/auth/");
    let p = || path.to_owned();
    vec![
        ("token_pair.login_path", Provider::TokenPair(TokenPairConfig { login_path: p(), ..pair() })),
        ("token_pair.refresh_path", Provider::TokenPair(TokenPairConfig { refresh_path: p(), ..pair() })),
        ("token_pair.logout_path", Provider::TokenPair(TokenPairConfig { logout_path: Some(p()), ..pair() })),
        ("opaque.login_path", Provider::OpaqueToken(OpaqueTokenConfig { login_path: p(), ..opaque() })),
        ("opaque.probe_path", Provider::OpaqueToken(OpaqueTokenConfig { probe_path: p(), ..opaque() })),
        ("opaque.logout_path", Provider::OpaqueToken(OpaqueTokenConfig { logout_path: p(), ..opaque() })),
        ("opaque.sessions_path", Provider::OpaqueToken(OpaqueTokenConfig { sessions_path: Some(p()), ..opaque() })),
        ("opaque.logout_all_path", Provider::OpaqueToken(OpaqueTokenConfig { logout_all_path: Some(p()), ..opaque() })),
        ("opaque.password_path", Provider::OpaqueToken(OpaqueTokenConfig { password_path: Some(p()), ..opaque() })),
    ]
}

#[test]
fn the_corpora_are_big_enough() {
    let hostile = endpoint_corpus::hostile();
    assert!(hostile.len() >= 60, "only {} hostile paths", hostile.len());
    assert!(endpoint_corpus::ordinary().len() >= 15);
}

#[test]
fn every_hostile_path_is_refused_in_every_field() {
    let device = Device::new(BASE, common::devices::simplejwt());
    let manager = device.auth.manager();
    let mut accepted = Vec::new();
    for Case { path, why } in endpoint_corpus::hostile() {
        if check_endpoint_path(&path).is_ok() {
            accepted.push(format!("check_endpoint_path accepted {path:?} ({why})"));
        }
        for (field, provider) in providers_with(&path) {
            if provider.validate().is_ok() {
                accepted.push(format!("{field}: validate accepted {path:?} ({why})"));
            }
            match manager.add_server("https://other.example/tenant-a/", Some("other"), provider) {
                Err(ManagerError::InvalidInput(e)) => {
                    let shown = e.to_string();
                    assert!(shown.contains("endpoint path"), "{field} {path:?}: {shown}");
                }
                other => accepted.push(format!("{field}: add_server gave {other:?} for {path:?} ({why})")),
            }
        }
    }
    assert!(accepted.is_empty(), "{} hostile paths accepted:\n{}", accepted.len(), accepted.join("\n"));
    assert_eq!(manager.servers().len(), 1, "only the device's own server is stored");
}

#[test]
fn ordinary_paths_are_accepted_and_stay_below_the_base() {
    let server = ServerId::parse(BASE).expect("base");
    for Case { path, why } in endpoint_corpus::ordinary() {
        for (field, provider) in providers_with(&path) {
            assert_eq!(provider.validate(), Ok(()), "{field}: {path:?} ({why})");
        }
        let url = endpoint_url(&server, &path).unwrap_or_else(|e| panic!("{path:?} ({why}): {e}"));
        assert!(url.as_str().starts_with(BASE), "{path:?} joined as {url}");
    }
}

#[test]
fn the_join_refuses_stored_paths_that_escape_even_unchecked() {
    let server = ServerId::parse(BASE).expect("base");
    for Case { path, why } in endpoint_corpus::hostile() {
        assert!(endpoint_url(&server, &path).is_err(), "{path:?} ({why}) was joined");
    }
}

/// A TCP listener that only counts the connections it is offered.
async fn thief() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the thief");
    let address = listener.local_addr().expect("thief address").to_string();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&connections);
    tokio::spawn(async move {
        while listener.accept().await.is_ok() {
            counted.fetch_add(1, Ordering::SeqCst);
        }
    });
    (address, connections)
}

/// `device` after its stored record was edited to put `path` in `fields`
/// (a tampered store that bypassed `add_server`), and the app restarted.
fn tampered(device: &Device, fields: &[&str], path: &str) -> Device {
    let json = device.values.get(RECORD_KEY).expect("record stored");
    let mut record: serde_json::Value = serde_json::from_str(&json).expect("record is JSON");
    for field in fields {
        record["provider"][*field] = serde_json::Value::String(path.to_owned());
    }
    device.values.set(RECORD_KEY, &record.to_string()).expect("write record");
    let reopened = device.reopened();
    let login_path = match &reopened.session.info().provider {
        Provider::TokenPair(c) => c.login_path.clone(),
        Provider::OpaqueToken(c) => c.login_path.clone(),
        Provider::Oidc(_) => String::new(),
    };
    assert_eq!(login_path, path, "the tampered record was restored as written");
    reopened
}

#[tokio::test]
async fn a_tampered_record_sends_no_request_anywhere() {
    let (thief_address, connections) = thief().await;
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
    let base = format!("{}/tenant-a/", server.uri());
    let password = Secret::new("pw-never-sent");
    let http = build_client(HttpConfig::default()).expect("http client");
    for case in endpoint_corpus::hostile() {
        let path = case.aimed_at(&thief_address);
        let why = &case.why;

        let pair = Device::with_client(&base, common::devices::simplejwt(), http.clone());
        let pair = tampered(&pair, &["login_path", "refresh_path", "logout_path"], &path);
        let login = pair.auth.sign_in_with_password(API, "alice", &password, None).await;
        assert!(matches!(login, Err(LoginError::Configuration(_))), "{path:?} ({why}): {login:?}");
        let grant = TokenGrant { expires_in: Some(60), ..TokenGrant::access_only("a") };
        let grant = TokenGrant { refresh: Some(Secret::new("r")), ..grant };
        pair.session.sign_in(ProviderKind::TokenPair, grant).expect("sign in");
        pair.advance(61);
        let refresh = pair.session.fresh_access_token().await;
        assert!(matches!(refresh, Err(SessionError::Configuration(_))), "{path:?} ({why}): {refresh:?}");

        let opaque = Device::with_client(&base, common::devices::opaque(), http.clone());
        let fields = ["login_path", "probe_path", "logout_path", "sessions_path", "logout_all_path", "password_path"];
        let opaque = tampered(&opaque, &fields, &path);
        let login = opaque.auth.sign_in_with_password(API, "alice", &password, Some("laptop")).await;
        assert!(matches!(login, Err(LoginError::Configuration(_))), "{path:?} ({why}): {login:?}");
        opaque.session.sign_in(ProviderKind::OpaqueToken, TokenGrant::access_only("device-key")).expect("sign in");
        let probe = opaque.session.probe().await;
        assert!(matches!(probe, Err(SessionError::Configuration(_))), "{path:?} ({why}): {probe:?}");
        let listed = opaque.auth.device_sessions(API).await;
        assert!(matches!(listed, Err(AccountError::Configuration(_))), "{path:?} ({why}): {listed:?}");
        let revoked = opaque.auth.revoke_device_session(API, 7).await;
        assert!(matches!(revoked, Err(AccountError::Configuration(_))), "{path:?} ({why}): {revoked:?}");
    }
    tokio::task::yield_now().await;
    assert_eq!(connections.load(Ordering::SeqCst), 0, "a request reached the listener the paths aim at");
    let received = server.received_requests().await.unwrap_or_default();
    let shown: Vec<String> = received.iter().map(|r| format!("{} {}", r.method, r.url)).collect();
    assert!(received.is_empty(), "requests left for tampered paths: {shown:?}");
}

#[tokio::test]
async fn device_session_ids_stay_in_the_sessions_path() {
    let server = MockServer::start().await;
    Mock::given(method("DELETE")).respond_with(ResponseTemplate::new(204)).mount(&server).await;
    let base = format!("{}/tenant-a/", server.uri());
    let device = Device::new(&base, Provider::OpaqueToken(OpaqueTokenConfig::under("api/v1/auth/")));
    device.session.sign_in(ProviderKind::OpaqueToken, TokenGrant::access_only("device-key")).expect("sign in");
    for id in [0, 7, -1, i64::MIN, i64::MAX] {
        device.auth.revoke_device_session(API, id).await.unwrap_or_else(|e| panic!("revoke {id}: {e}"));
    }
    let received = server.received_requests().await.unwrap_or_default();
    assert_eq!(received.len(), 5);
    for request in received {
        let path = request.url.path();
        let id = path.strip_prefix("/tenant-a/api/v1/auth/sessions/").and_then(|rest| rest.strip_suffix('/'));
        assert!(id.is_some_and(|id| id.parse::<i64>().is_ok()), "revoked at {path}");
    }
}

#[test]
fn refusals_say_what_is_wrong() {
    let cases = [
        ("\\\\127.0.0.1:8766/steal/", EndpointPathError::Backslash),
        ("%2e%2e/tenant-b/api/token/", EndpointPathError::DotSegment),
        ("//127.0.0.1:8766/steal/", EndpointPathError::Absolute),
        ("http://127.0.0.1:8766/steal/", EndpointPathError::Scheme),
        ("user@127.0.0.1:8766/", EndpointPathError::UserInfo),
    ];
    for (path, want) in cases {
        assert_eq!(check_endpoint_path(path), Err(want), "{path:?}");
    }
    let provider = Provider::TokenPair(TokenPairConfig {
        login_path: "\\\\127.0.0.1:8766/steal/".into(),
        ..TokenPairConfig::simplejwt("api/token/")
    });
    let shown = provider.validate().expect_err("refused").to_string();
    assert!(shown.contains("backslash") && shown.contains("relative path below the server URL"), "{shown}");
}
