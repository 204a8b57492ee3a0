//! The CLI against a real OpenID provider (oidc-provider, started by the core
//! crate's harness): a browser login through the loopback receiver, a token
//! the provider accepts, a refresh once the access token has expired at the
//! provider, `status --json`, and a logout that revokes at the provider.
//!
//! Waits are on the provider's own clock (its tokens expire there, no
//! leeway), by polling it with a deadline.

mod common;

use std::time::{Duration, Instant};

use common::Machine;
use common::oidc_peer::{CLIENT_ID, OidcPeer, PeerOptions, drive_login, http_client};
use reqwest::StatusCode;
use serde_json::Value;

/// The provider's access-token lifetime. The CLI hands out a token with at
/// least half its lifetime left, which leaves the test this much time / 2 to
/// use it on a busy two-core machine.
const ACCESS_TTL_SECS: u64 = 4;
const ALIAS: &str = "idp";

/// The refresh token the CLI stored (from `secrets.json`).
fn stored_refresh_token(machine: &Machine) -> String {
    let file = std::fs::read_to_string(machine.store_dir().join("secrets.json")).expect("secrets.json exists");
    let doc: Value = serde_json::from_str(&file).expect("secrets.json is JSON");
    let record = doc["entries"][format!("authstate.tokens.{ALIAS}")].as_str().expect("the tokens entry");
    let record: Value = serde_json::from_str(record).expect("the tokens record is JSON");
    record["tokens"]["refresh"].as_str().expect("a refresh token").to_owned()
}

/// Signs in through the loopback receiver, playing the browser.
async fn browser_login(machine: &Machine) -> common::Run {
    let mut login = machine.spawn(&["login", ALIAS, "--no-browser", "--timeout", "120"]);
    let url = login.wait_for_line("Open this URL to sign in: ", Duration::from_secs(60));
    let callback = drive_login(&url, "alice").await;
    assert!(callback.starts_with("http://127.0.0.1:"), "callback goes to the loopback receiver: {callback}");
    // The browser's last hop: the provider's redirect reaches the CLI.
    let page = http_client(false).get(&callback).send().await.expect("GET the loopback callback");
    assert_eq!(page.status(), StatusCode::OK);
    login.finish(Duration::from_secs(60)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_login_token_refresh_status_and_logout() {
    let Some(peer) =
        OidcPeer::start(PeerOptions { access_token_ttl_secs: ACCESS_TTL_SECS, ..PeerOptions::default() }).await
    else {
        return;
    };
    let machine = Machine::new().trusting_test_ca();
    machine.add_server(&[&peer.issuer(), "--alias", ALIAS, "--client-id", CLIENT_ID, "--scope", "profile"]);
    assert_eq!(machine.status_of(ALIAS)["state"], "no_session");

    let login = browser_login(&machine).await.success().stderr_has("Signed in to idp");
    assert!(login.stdout.is_empty(), "login prints nothing on stdout\n{login}");

    // A token the provider accepts, alone on stdout.
    let first = machine.token(ALIAS);
    assert_eq!(peer.userinfo(&first).await.status(), StatusCode::OK, "userinfo refused the CLI's token");
    let status = machine.status_of(ALIAS);
    assert_eq!(status["state"], "active", "{status}");
    assert_eq!(status["provider"], "oidc");
    assert!(status["expires_in_secs"].as_i64().is_some_and(|s| s <= ACCESS_TTL_SECS as i64), "{status}");

    // Once the provider refuses it, `token` refreshes and hands out another one.
    let deadline = Instant::now() + Duration::from_secs(30);
    while peer.userinfo(&first).await.status() != StatusCode::UNAUTHORIZED {
        assert!(Instant::now() < deadline, "the access token never expired at the provider");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let second = machine.token(ALIAS);
    assert_ne!(second, first, "an expired token was handed out again");
    assert_eq!(peer.userinfo(&second).await.status(), StatusCode::OK, "userinfo refused the refreshed token");
    let json = machine.run(&["token", ALIAS, "--json"]).success();
    let parsed: Value = serde_json::from_str(&json.stdout).expect("token --json is JSON");
    assert!(parsed["access_token"].as_str().is_some_and(|t| !t.is_empty()), "{json}");
    assert!(parsed["expires_in_secs"].is_i64(), "{json}");

    // Logout revokes at the provider: the old refresh token is dead there.
    let refresh = stored_refresh_token(&machine);
    let logout =
        machine.run(&["logout", ALIAS]).success().stderr_has("revoked").reveals_none(&[&first, &second, &refresh]);
    assert!(logout.stdout.is_empty(), "{logout}");
    assert_eq!(machine.status_of(ALIAS)["state"], "no_session");
    let grant = http_client(false)
        .post(&peer.endpoints().token)
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh.as_str()), ("client_id", CLIENT_ID)])
        .send()
        .await
        .expect("POST token");
    assert_eq!(grant.status(), StatusCode::BAD_REQUEST, "the revoked refresh token still works");
    let body: Value = grant.json().await.expect("error JSON");
    assert_eq!(body["error"], "invalid_grant", "{body}");
    machine
        .run(&["token", ALIAS])
        .code(4)
        .one_line_error()
        .stderr_has("hint: run `authstate login idp`")
        .reveals_none(&[&first, &second, &refresh]);

    // A login nobody completes ends with "sign-in required" at the timeout.
    let mut abandoned = machine.spawn(&["login", ALIAS, "--no-browser", "--timeout", "1"]);
    abandoned.wait_for_line("Open this URL to sign in: ", Duration::from_secs(60));
    abandoned.finish(Duration::from_secs(60)).await.code(4).stderr_has("no sign-in within 1 s");
}

/// Scripts run `token` in parallel (`make -j`, `xargs -P`). Each call is its
/// own process, so the core's per-process single flight cannot help: the
/// server's refresh lease must, or two processes present the same rotating
/// refresh token and the provider kills the grant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_token_calls_share_one_refresh() {
    let Some(peer) =
        OidcPeer::start(PeerOptions { access_token_ttl_secs: ACCESS_TTL_SECS, ..PeerOptions::default() }).await
    else {
        return;
    };
    let machine = Machine::new().trusting_test_ca();
    machine.add_server(&[&peer.issuer(), "--alias", ALIAS, "--client-id", CLIENT_ID]);
    browser_login(&machine).await.success();
    let first = machine.token(ALIAS);
    let deadline = Instant::now() + Duration::from_secs(30);
    while peer.userinfo(&first).await.status() != StatusCode::UNAUTHORIZED {
        assert!(Instant::now() < deadline, "the access token never expired at the provider");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let before = peer.counts().await.token;

    let calls: Vec<_> = (0..4).map(|_| machine.spawn(&["token", ALIAS])).collect();
    let mut tokens = Vec::new();
    for call in calls {
        let run = call.finish(Duration::from_secs(60)).await.success();
        tokens.push(run.stdout.trim_end().to_owned());
    }
    assert!(tokens.iter().all(|t| *t == tokens[0] && *t != first), "one refreshed token for all: {}", tokens.len());
    assert_eq!(peer.counts().await.token - before, 1, "exactly one refresh for four parallel calls");
    assert_eq!(peer.userinfo(&tokens[0]).await.status(), StatusCode::OK);
    assert_eq!(machine.status_of(ALIAS)["state"], "active");
}
