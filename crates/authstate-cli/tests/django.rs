//! The CLI against a real Django REST framework server (started by the core
//! crate's harness): password logins to a token-pair (simplejwt) and an
//! opaque-token (knox) server, tokens the server accepts, device sessions of
//! two machines, revoking one, and what `status` says about other devices.

mod common;

use common::django_peer::{DjangoOptions, DjangoPeer, http_client};
use common::{Machine, PASSWORD};
use reqwest::StatusCode;
use serde_json::Value;

async fn peer() -> Option<DjangoPeer> {
    let peer = DjangoPeer::start(DjangoOptions::default()).await?;
    peer.create_user("alice", PASSWORD).await;
    Some(peer)
}

/// `GET path` with `Authorization: <scheme> <token>`: the status and the username.
async fn me(peer: &DjangoPeer, path: &str, scheme: &str, token: &str) -> (StatusCode, Option<String>) {
    let response = http_client()
        .get(peer.url(path))
        .header("Authorization", format!("{scheme} {token}"))
        .send()
        .await
        .expect("GET me");
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (status, body["username"].as_str().map(str::to_owned))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_pair_login_token_and_logout() {
    let Some(peer) = peer().await else { return };
    let machine = Machine::new();
    machine.add_server(&[&peer.base_url(), "--alias", "api", "--provider", "token-pair"]);

    let login = machine.password_login("api", "alice", PASSWORD, &[]).success().stderr_has("Signed in to api");
    assert!(login.stdout.is_empty(), "{login}");
    let token = machine.token("api");
    assert_eq!(me(&peer, "api/me/", "Bearer", &token).await, (StatusCode::OK, Some("alice".into())));
    let status = machine.status_of("api");
    assert_eq!(status["state"], "active", "{status}");
    assert_eq!(status["other_devices"], Value::Null, "a token-pair server says nothing about devices: {status}");

    let logout = machine.run(&["logout", "api"]).success().stderr_has("revoked");
    logout.reveals_none(&[&token, PASSWORD]);
    assert_eq!(peer.counts().await.jwt_blacklist, 1, "logout blacklists the refresh token");
    machine.run(&["token", "api"]).code(4).one_line_error().stderr_has("hint: run `authstate login api`");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opaque_device_sessions_across_two_machines() {
    let Some(peer) = peer().await else { return };
    let laptop = Machine::new();
    let desktop = Machine::new();
    for machine in [&laptop, &desktop] {
        machine.add_server(&[&peer.base_url(), "--alias", "api", "--provider", "opaque"]);
    }

    laptop.password_login("api", "alice", PASSWORD, &["--device-label", "laptop"]).success();
    let laptop_token = laptop.token("api");
    assert_eq!(me(&peer, "api/v1/me/", "Token", &laptop_token).await, (StatusCode::OK, Some("alice".into())));
    assert_eq!(laptop.status_of("api")["other_devices"], 0);

    // A second machine signs in: it learns about the first at once.
    desktop
        .password_login("api", "alice", PASSWORD, &["--device-label", "desktop"])
        .success()
        .stderr_has("also signed in on 1 other device");
    let desktop_token = desktop.token("api");
    assert_ne!(desktop_token, laptop_token);
    assert_eq!(desktop.status_of("api")["other_devices"], 1);

    // The first learns about the second from the listing.
    let listed = laptop.run(&["sessions", "api", "--json"]).success().reveals_none(&[&laptop_token, &desktop_token]);
    let sessions: Vec<Value> = serde_json::from_str(&listed.stdout).expect("sessions --json is a JSON array");
    assert_eq!(sessions.len(), 2, "{listed}");
    let current: Vec<&Value> = sessions.iter().filter(|s| s["is_current"] == true).collect();
    assert_eq!(current.len(), 1, "exactly one session is this device's\n{listed}");
    assert_eq!(current[0]["device_label"], "laptop");
    let other = sessions.iter().find(|s| s["is_current"] == false).expect("the other session");
    assert_eq!(other["device_label"], "desktop");
    let other_id = other["id"].as_i64().expect("session id").to_string();
    assert_eq!(laptop.status_of("api")["other_devices"], 1);
    let table = laptop.run(&["sessions", "api"]).success().stderr_has("* this device");
    let marked = table.stdout.lines().find(|l| l.starts_with('*')).unwrap_or_else(|| panic!("no marked row\n{table}"));
    assert!(marked.contains("laptop"), "{table}");
    let plain = laptop.run(&["status"]).success();
    assert!(plain.stdout.lines().any(|l| l.starts_with("api") && l.contains("active") && l.trim_end().ends_with('1')));

    // Revoking the desktop's session kills its token at the server.
    laptop.run(&["sessions", "api", "revoke", &other_id]).success().stderr_has(&format!("Revoked session {other_id}"));
    assert_eq!(me(&peer, "api/v1/me/", "Token", &desktop_token).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&peer, "api/v1/me/", "Token", &laptop_token).await.0, StatusCode::OK);
    assert_eq!(laptop.status_of("api")["other_devices"], 0);
    let again = laptop.run(&["sessions", "api", "--json"]).success();
    assert_eq!(serde_json::from_str::<Vec<Value>>(&again.stdout).expect("JSON").len(), 1, "{again}");
    laptop.run(&["sessions", "api", "revoke", &other_id]).code(2).one_line_error().stderr_has("no such device session");

    // Revoking this device's own session signs it out here too.
    let own_id = current[0]["id"].as_i64().expect("own id").to_string();
    laptop.run(&["sessions", "api", "revoke", &own_id]).success().stderr_has("signed out here");
    assert_eq!(laptop.status_of("api")["state"], "no_session");
    assert_eq!(me(&peer, "api/v1/me/", "Token", &laptop_token).await.0, StatusCode::UNAUTHORIZED);
    laptop.run(&["token", "api"]).code(4).one_line_error();
}
