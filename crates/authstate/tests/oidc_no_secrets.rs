//! No secret reaches a log line, an error message or a `Debug` output on the
//! OIDC paths against the real provider: login (including refused callbacks),
//! refresh, 401 recovery, rotation reuse, revocation and an outage. Every
//! tracing record is captured at TRACE level (a current-thread runtime, so
//! the detached refresh tasks are captured too) and searched for every token,
//! code, state, nonce and PKCE verifier the flows handled.

mod common;

use std::sync::Arc;

use authstate::refresh::Refresher;
use authstate::{AuthedClient, ManualClock};
use common::oidc_peer::{ALIAS, OidcPeer, PeerClient, PeerOptions, drive_login};
use time::{Duration, OffsetDateTime};

fn param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url).ok()?.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn oidc_flows_never_log_or_show_a_secret() {
    let (captured, _guard) = common::log_capture::capture();

    let Some(mut peer) = OidcPeer::start(PeerOptions::default()).await else { return };
    let clock = ManualClock::new(OffsetDateTime::now_utc());
    let PeerClient { http, backends, auth, session, .. } = peer.client(Arc::new(clock.clone()), Duration::seconds(300));
    let manager = auth.manager().clone();
    let mut secrets: Vec<String> = Vec::new();
    let mut shown: Vec<String> = Vec::new();

    // A refused callback, then a login.
    let url = auth.begin_login(ALIAS, Some("/inbox")).await.expect("begin");
    secrets.extend(["state", "nonce", "code_challenge"].iter().filter_map(|p| param(url.as_str(), p)));
    let callback = drive_login(url.as_str(), "alice").await;
    secrets.extend(param(&callback, "code"));
    let tampered = callback.replace("state=", "state=x");
    shown.push(format!(
        "{:?} {}",
        auth.complete_login(&tampered).await,
        auth.complete_login("nope").await.unwrap_err()
    ));
    let outcome = auth.complete_login(&callback).await.expect("login");
    shown.push(format!("{outcome:?} {:?}", session.state()));
    shown.push(format!("{:?}", auth.complete_login(&callback).await)); // replayed
    let first = session.state().tokens().cloned().expect("tokens");

    // Refresh, a 401 recovery, rotation reuse.
    session.refresh().await.expect("refresh");
    let client = AuthedClient::new(http.clone(), Arc::clone(&session));
    let stale = first.access.expose().to_owned();
    shown.push(format!("{:?}", session.on_response(401, Some("Bearer error=\"invalid_token\""), &stale).await));
    shown.push(format!("{:?}", client.send(client.get(&peer.endpoints().userinfo)).await.map(|r| r.status())));
    let info = session.info().clone();
    shown.push(format!("{:?}", backends.oidc().refresh(&info, &first).await));
    shown.push(format!("{:?}", session.refresh().await));
    shown.push(format!("{:?} {:?}", session.state(), client.send(client.get(&peer.endpoints().userinfo)).await));
    let current = session.state().tokens().cloned().expect("tokens kept");

    // A new login, an outage, and sign-out with the provider down and up.
    let url = auth.begin_login(ALIAS, None).await.expect("begin");
    let callback = drive_login(url.as_str(), "alice").await;
    secrets.extend(["state", "nonce", "code_challenge"].iter().filter_map(|p| param(url.as_str(), p)));
    secrets.extend(param(&callback, "code"));
    auth.complete_login(&callback).await.expect("login again");
    let third = session.state().tokens().cloned().expect("tokens");
    peer.stop();
    clock.advance(Duration::seconds(120));
    shown.push(format!("{:?} {:?}", session.fresh_access_token().await, session.state()));
    shown.push(format!("{:?}", client.send(client.get("https://127.0.0.1:9/nothing")).await));
    peer.restart().await;
    shown.push(format!("{:?}", session.fresh_access_token().await.map(|_| ())));
    let fourth = session.state().tokens().cloned().expect("tokens");
    shown.push(format!("{:?}", auth.sign_out(ALIAS).await));
    shown.push(format!("{session:?} {manager:?} {backends:?} {client:?}"));

    for tokens in [&first, &current, &third, &fourth] {
        secrets.push(tokens.access.expose().to_owned());
        secrets.extend(tokens.refresh.iter().map(|t| t.expose().to_owned()));
        secrets.extend(tokens.id_token.iter().map(|t| t.expose().to_owned()));
    }
    let logs = captured.text();
    assert!(logs.contains("signed in") && logs.contains("refresh"), "the capture works:\n{logs}");
    let shown = shown.join("\n");
    for secret in secrets.iter().filter(|s| s.len() >= 8) {
        assert!(!logs.contains(secret.as_str()), "a secret reached the logs: …{}…\n{logs}", &secret[..6]);
        assert!(!shown.contains(secret.as_str()), "a secret reached an error or Debug output:\n{shown}");
    }
}
