//! No password or token reaches a log line, an error message or a `Debug`
//! output on the TokenPair and OpaqueToken paths against the real Django
//! server: refused and accepted sign-ins, refresh, a shape mismatch, rotation
//! reuse, probes, device sessions, a refused and an accepted password change,
//! sign-out with the server up and down. Every tracing record is captured at
//! TRACE level (a current-thread runtime, so detached refreshes are captured).

mod common;

use authstate::model::RefreshRequestShape;
use authstate::{ProviderKind, Secret, TokenGrant, Tokens};
use common::devices::{API, Device, PASSWORD, opaque, simplejwt, token_pair};
use common::django_peer::{DjangoOptions, DjangoPeer};

fn token_strings(tokens: &Tokens) -> Vec<String> {
    let mut out = vec![tokens.access.expose().to_owned()];
    out.extend(tokens.refresh.iter().map(|t| t.expose().to_owned()));
    out
}

#[tokio::test]
async fn credential_flows_never_log_or_show_a_secret() {
    let (captured, _guard) = common::log_capture::capture();
    let Some(mut peer) = DjangoPeer::start(DjangoOptions::default()).await else { return };
    peer.create_user("alice", PASSWORD).await;
    let mut secrets: Vec<String> = vec![PASSWORD.into(), "wrong-password-1".into(), "new-password-2".into()];
    let mut shown: Vec<String> = Vec::new();

    // TokenPair: refused and accepted logins, refresh, rotation reuse, a shape mismatch.
    let jwt = Device::new(&peer.base_url(), simplejwt());
    shown.push(format!(
        "{:?}",
        jwt.auth.sign_in_with_password(API, "alice", &Secret::new("wrong-password-1"), None).await
    ));
    shown.push(format!("{:?}", jwt.login("alice").await));
    let first = jwt.tokens();
    shown.push(format!("{:?} {:?}", jwt.session.refresh().await, jwt.session.state()));
    let second = jwt.tokens();
    let replay = Device::new(&peer.base_url(), simplejwt());
    let grant =
        TokenGrant { access: first.access.clone(), refresh: first.refresh.clone(), id_token: None, expires_in: None };
    replay.session.sign_in(ProviderKind::TokenPair, grant).expect("restore");
    shown.push(format!("{:?} {:?}", replay.session.refresh().await, replay.session.state()));
    let mismatched = Device::new(&peer.base_url(), token_pair("api/token/refresh/", RefreshRequestShape::BearerHeader));
    mismatched.login("alice").await;
    let third = mismatched.tokens();
    shown.push(format!("{:?} {:?}", mismatched.session.refresh().await, mismatched.session.state()));
    shown.push(format!("{:?}", jwt.auth.sign_out(API).await));

    // OpaqueToken: two devices, probes, listing, password change, sign-outs.
    let phone = Device::new(&peer.base_url(), opaque());
    let laptop = Device::new(&peer.base_url(), opaque());
    shown.push(format!("{:?}", phone.login("alice").await));
    shown.push(format!("{:?}", laptop.login("alice").await));
    let (phone_key, laptop_key) = (phone.tokens(), laptop.tokens());
    shown.push(format!("{:?}", phone.session.probe().await));
    shown.push(format!("{:?}", phone.auth.device_sessions(API).await));
    let wrong = phone.auth.change_password(API, &Secret::new("wrong-password-1"), &Secret::new("new-password-2")).await;
    shown.push(format!("{wrong:?}"));
    let changed = phone.auth.change_password(API, &Secret::new(PASSWORD), &Secret::new("new-password-2")).await;
    shown.push(format!("{changed:?}"));
    let phone_new = phone.tokens();
    shown.push(format!("{:?} {:?}", laptop.session.probe().await, laptop.session.state()));
    let api = laptop.api();
    shown.push(format!("{:?}", api.send(api.get(peer.url("api/v1/me/"))).await.map(|r| r.status())));
    peer.stop();
    shown.push(format!("{:?} {:?}", phone.session.probe().await, phone.auth.device_sessions(API).await));
    shown.push(format!("{:?}", phone.auth.sign_out(API).await));
    shown.push(format!("{:?} {:?} {:?}", phone.session, laptop.auth, phone.api()));

    for tokens in [&first, &second, &third, &phone_key, &laptop_key, &phone_new] {
        secrets.extend(token_strings(tokens));
    }
    let logs = captured.text();
    assert!(logs.contains("signed in") && logs.contains("refresh"), "the capture works:\n{logs}");
    let shown = shown.join("\n");
    assert!(shown.contains("InvalidCredentials") && shown.contains("Refused"), "the refusals were shown:\n{shown}");
    for secret in &secrets {
        assert!(!logs.contains(secret.as_str()), "a secret reached the logs: …{}…\n{logs}", &secret[..6]);
        assert!(!shown.contains(secret.as_str()), "a secret reached an error or Debug output:\n{shown}");
    }
}
