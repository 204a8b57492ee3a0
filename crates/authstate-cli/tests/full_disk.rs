//! The store on a full disk (issue #13), a small tmpfs filled to the last
//! byte, against the real simplejwt (rotation, old refresh tokens
//! blacklisted):
//!
//! - 20 `token` runs, each refreshing (the access token lives one second):
//!   each prints the new token but exits 7, saying the tokens are kept in the
//!   refresh journal; each next run recovers them from it. Once there is
//!   room the next `token` saves them and refreshes with the stored refresh
//!   token: the server's current one (it never saw a blacklisted one).
//! - `logout`: the server revokes, the command exits 7 saying the old tokens
//!   are still on disk, `status` says signed out (not saved), and the first
//!   command that can write removes them.
//!
//! Root only (a tmpfs mount); skipped otherwise, unless `AUTHSTATE_REQUIRE_PEERS=1`.
#![cfg(target_os = "linux")]

mod common;

use std::time::{Duration, SystemTime};

use common::django_peer::{DjangoOptions, DjangoPeer, http_client};
use common::{Machine, PASSWORD, Tmpfs};
use reqwest::StatusCode;

/// Room for the stores and the journal (32 KiB), with some to fill.
const DISK_KIB: u64 = 512;
const RUNS: usize = 20;
/// The access token's lifetime at the server: the CLI refreshes a token
/// this short-lived once half of it has passed.
const ACCESS_TTL_SECS: u64 = 1;

async fn peer(access_ttl_secs: u64) -> Option<DjangoPeer> {
    let peer = DjangoPeer::start(DjangoOptions { access_ttl_secs, ..DjangoOptions::default() }).await?;
    peer.create_user("alice", PASSWORD).await;
    Some(peer)
}

/// Refresh requests the server refused (a blacklisted or unknown refresh token).
fn refused_refreshes(peer: &DjangoPeer) -> usize {
    peer.log().lines().filter(|l| l.contains("\"POST /api/token/refresh/") && l.contains("\" 401 ")).count()
}

/// Waits until a token received before `received_by` is due for a refresh
/// by the CLI's rule (half its one-second life), on the clock the CLI reads.
fn wait_until_due(received_by: SystemTime) {
    let due = received_by + Duration::from_millis(ACCESS_TTL_SECS * 1000 / 2);
    while let Ok(left) = due.duration_since(SystemTime::now()) {
        std::thread::sleep(left);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_tokens_on_a_full_disk_are_never_lost_across_twenty_runs() {
    let Some(peer) = peer(ACCESS_TTL_SECS).await else { return };
    let machine = Machine::new();
    let Some(disk) = Tmpfs::mount(machine.store_dir(), DISK_KIB) else { return };
    machine.add_server(&[&peer.base_url(), "--alias", "api", "--provider", "token-pair"]);
    machine.password_login("api", "alice", PASSWORD, &[]).success();
    let journal = machine.store_dir().join("api.lease");
    let journal_len = std::fs::metadata(&journal).map(|m| m.len()).unwrap_or(0);
    assert!(journal_len >= 32 * 1024, "login allocated the refresh journal ({journal_len} bytes)");
    let mut received_by = SystemTime::now();
    let filler = disk.fill();
    peer.reset_counts().await;

    let mut previous = String::new();
    for run in 0..RUNS {
        wait_until_due(received_by);
        let out = machine.run(&["token", "api"]);
        received_by = SystemTime::now();
        let out = out
            .code(7)
            .stderr_has("error: api: the new tokens could not be saved (no space left on the file system of")
            .stderr_has(&format!("kept in the refresh journal {}", journal.display()));
        assert!(
            run == 0 || out.stderr.contains("recovered from the refresh journal"),
            "run {run}: the tokens kept by the previous run are not said to be recovered\n{out}"
        );
        let token = out.stdout.strip_suffix('\n').unwrap_or_else(|| panic!("run {run}: no token\n{out}"));
        assert!(!token.is_empty() && token != previous, "run {run}: a new token is printed\n{out}");
        previous = token.to_owned();
    }
    assert_eq!(peer.counts().await.jwt_refresh, RUNS as u64, "every run refreshed");
    let status = machine.status_of("api");
    assert_eq!(status["state"], "active", "{status}");
    assert_eq!(status["persistence_pending"], true, "{status}");

    std::fs::remove_file(&filler).expect("free the disk");
    wait_until_due(received_by);
    let out = machine.run(&["token", "api"]).success().stderr_has("recovered from the refresh journal");
    assert!(out.stderr.contains("are saved now"), "the recovered tokens are saved once there is room\n{out}");
    let token = out.stdout.trim_end();
    let me = http_client().get(peer.url("api/me/")).bearer_auth(token).send().await.expect("GET api/me/");
    assert_eq!(me.status(), StatusCode::OK, "the last token works");
    assert_eq!(peer.counts().await.jwt_refresh, RUNS as u64 + 1);
    assert_eq!(refused_refreshes(&peer), 0, "the server never saw a blacklisted refresh token\n{}", peer.log());
    let status = machine.status_of("api");
    assert_eq!((status["state"].as_str(), status["persistence_pending"].as_bool()), (Some("active"), Some(false)));
    assert!(machine.temporary_files().is_empty(), "{:?}", machine.temporary_files());
    println!(
        "full disk: {RUNS} runs exited 7 with the new token, each recovered by the next; then saved; 0 refused refreshes"
    );
    drop(disk);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_on_a_full_disk_says_what_is_left_and_status_agrees() {
    let Some(peer) = peer(300).await else { return };
    let machine = Machine::new();
    let Some(disk) = Tmpfs::mount(machine.store_dir(), DISK_KIB) else { return };
    machine.add_server(&[&peer.base_url(), "--alias", "api", "--provider", "token-pair"]);
    machine.password_login("api", "alice", PASSWORD, &[]).success();
    let token = machine.token("api");
    let refresh = machine.stored_refresh_token("api").expect("a refresh token");
    let filler = disk.fill();

    let secrets = machine.store_dir().join("secrets.json");
    let journal = machine.store_dir().join("api.lease");
    let out = machine
        .run(&["logout", "api"])
        .code(7)
        .stderr_has("Signed out of api; the server revoked the session.")
        .stderr_has("error: api: signed out here, but the store could not record it (no space left")
        .stderr_has(&format!("its old tokens are still in {}", secrets.display()))
        .stderr_has(&format!("the sign-out is kept in the refresh journal {}", journal.display()))
        .reveals_none(&[&token, &refresh]);
    assert!(out.stdout.is_empty(), "{out}");
    assert_eq!(peer.counts().await.jwt_blacklist, 1, "the server revoked");
    assert_eq!(machine.stored_refresh_token("api").as_deref(), Some(refresh.as_str()), "what the error says is left");

    // `status` agrees: signed out, not saved yet; `token` finds no session.
    let status = machine.status_of("api");
    assert_eq!(status["state"], "no_session", "{status}");
    assert_eq!(status["persistence_pending"], true, "{status}");
    let table = machine.run(&["status"]).success().stderr_has("a sign-out the store could not record");
    assert!(table.stdout.lines().any(|l| l.starts_with("api") && l.contains("signed out (not saved)")), "{table}");
    machine.run(&["token", "api"]).code(4).stderr_has("api: not signed in");

    // Room again: the next command finishes the sign-out.
    std::fs::remove_file(&filler).expect("free the disk");
    machine.run(&["status"]).success().stderr_has("is recorded now");
    assert_eq!(machine.stored_refresh_token("api"), None, "the old tokens are gone from disk");
    let status = machine.status_of("api");
    assert_eq!((status["state"].as_str(), status["persistence_pending"].as_bool()), (Some("no_session"), Some(false)));
    let quiet = machine.run(&["status"]).success();
    assert!(quiet.stderr.is_empty(), "nothing left to say\n{quiet}");

    // The kept sign-out is spent: a new sign-in stays signed in.
    machine.password_login("api", "alice", PASSWORD, &[]).success();
    let again = machine.run(&["token", "api"]).success();
    assert!(again.stderr.is_empty(), "{again}");
    let status = machine.status_of("api");
    assert_eq!((status["state"].as_str(), status["persistence_pending"].as_bool()), (Some("active"), Some(false)));
    drop(disk);
}

/// Rotated tokens kept in the journal (the stores are full) survive the
/// next refresh failing transiently: its "refreshing" entry carries them, so
/// the command after that still finds them, and saves them once there is
/// room, with no refused refresh at the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_in_the_journal_survive_a_refresh_that_fails_transiently() {
    let Some(mut peer) = peer(ACCESS_TTL_SECS).await else { return };
    let machine = Machine::new();
    let Some(disk) = Tmpfs::mount(machine.store_dir(), DISK_KIB) else { return };
    machine.add_server(&[&peer.base_url(), "--alias", "api", "--provider", "token-pair"]);
    machine.password_login("api", "alice", PASSWORD, &[]).success();
    let mut received_by = SystemTime::now();
    let filler = disk.fill();
    wait_until_due(received_by);
    machine.run(&["token", "api"]).code(7).stderr_has("kept in the refresh journal");
    received_by = SystemTime::now();

    peer.stop();
    wait_until_due(received_by);
    machine.run(&["token", "api"]).code(7).stderr_has("kept in the refresh journal");
    peer.restart().await;
    std::fs::remove_file(&filler).expect("free the disk");
    machine.run(&["token", "api"]).success();
    assert_eq!(refused_refreshes(&peer), 0, "{}", peer.log());
    drop(disk);
}
