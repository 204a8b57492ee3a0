//! The CLI against a real Django REST framework server (started by the core
//! crate's harness): password logins to a token-pair (simplejwt) and an
//! opaque-token (knox) server, tokens the server accepts, device sessions of
//! two machines, revoking one, signing every device out, a refused password
//! at a token-pair server, and what `status` says about other devices.

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_everywhere_ends_every_device_session() {
    let Some(peer) = peer().await else { return };
    let machines = [Machine::new(), Machine::new(), Machine::new()];
    let mut tokens = Vec::new();
    for (i, machine) in machines.iter().enumerate() {
        machine.add_server(&[&peer.base_url(), "--alias", "api", "--provider", "opaque"]);
        machine.password_login("api", "alice", PASSWORD, &["--device-label", &format!("device-{i}")]).success();
        tokens.push(machine.token("api"));
    }
    for token in &tokens {
        assert_eq!(me(&peer, "api/v1/me/", "Token", token).await.0, StatusCode::OK);
    }

    let [laptop, desktop, phone] = &machines;
    let run = laptop
        .run(&["logout", "api", "--everywhere"])
        .success()
        .stderr_has("Signed out of api on every device")
        .reveals_none(&tokens.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(run.stdout.is_empty(), "{run}");
    assert_eq!(peer.counts().await.logoutall, 1);
    for token in &tokens {
        assert_eq!(me(&peer, "api/v1/me/", "Token", token).await.0, StatusCode::UNAUTHORIZED, "every token is dead");
    }
    assert_eq!(laptop.status_of("api")["state"], "no_session", "signed out here too");
    laptop.run(&["token", "api"]).code(4).one_line_error();
    // The others find out when they next use their token.
    desktop.run(&["sessions", "api"]).code(4).one_line_error();
    // Signed out here: --everywhere needs a session to ask with, and says so without sending anything.
    laptop.run(&["logout", "api", "--everywhere"]).code(4).one_line_error().stderr_has("authstate login api");
    assert_eq!(peer.counts().await.logoutall, 1);
    // A plain logout still works on the third machine (the server already dropped its token).
    phone.run(&["logout", "api"]).success();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_password_at_a_token_pair_server_says_so() {
    let Some(peer) = peer().await else { return };
    let machine = Machine::new();
    machine.add_server(&[&peer.base_url(), "--alias", "api", "--provider", "token-pair"]);
    let wrong = "wrong-password-0815";
    let run = machine
        .password_login("api", "alice", wrong, &[])
        .code(4)
        .one_line_error()
        .stderr_has("the server refused the username or password")
        .stderr_has("try again")
        .reveals_none(&[wrong]);
    assert!(!run.stderr.contains("run `authstate login api`"), "{run}");
    // A token-pair server has no log-out-all endpoint: refused before anything is sent.
    machine.password_login("api", "alice", PASSWORD, &[]).success();
    machine.run(&["logout", "api", "--everywhere"]).code(2).one_line_error().stderr_has("cannot sign out every device");
    assert_eq!(machine.status_of("api")["state"], "active");
}
