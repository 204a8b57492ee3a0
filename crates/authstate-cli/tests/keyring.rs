//! The default secret store, the OS keyring (on Linux the kernel keyring):
//! a password login to the Django peer keeps its tokens there, not in a file,
//! and a logout deletes them.
//!
//! Ignored by default: it writes to the caller's session keyring. Run it in a
//! throw-away session keyring, as `cargo xtask test keyring` does:
//!
//! ```text
//! keyctl session - cargo test -p authstate-cli --test keyring -- --include-ignored
//! ```
#![cfg(target_os = "linux")]

mod common;

use common::django_peer::{DjangoOptions, DjangoPeer, http_client};
use common::{Machine, PASSWORD};
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "uses the session keyring: run under `keyctl session -` (cargo xtask test keyring does)"]
async fn keyring_holds_the_tokens_and_logout_deletes_them() {
    let Some(peer) = DjangoPeer::start(DjangoOptions::default()).await else { return };
    peer.create_user("alice", PASSWORD).await;
    let machine = Machine::with_keyring();
    machine.add_server(&[&peer.base_url(), "--alias", "api", "--provider", "token-pair"]);

    machine.password_login("api", "alice", PASSWORD, &[]).success();
    let token = machine.token("api");
    let me = http_client().get(peer.url("api/me/")).bearer_auth(&token).send().await.expect("GET api/me/");
    assert_eq!(me.status(), StatusCode::OK);

    // The tokens are in the keyring: no secrets file, and none in the state file.
    assert!(!machine.store_dir().join("secrets.json").exists(), "tokens were written to a file");
    let state = std::fs::read_to_string(machine.store_dir().join("state.json")).expect("state.json");
    assert!(!state.contains(&token), "the access token is in state.json");
    assert_eq!(machine.status_of("api")["state"], "active");

    machine.run(&["logout", "api"]).success().stderr_has("revoked");
    machine.run(&["token", "api"]).code(4).one_line_error();
    assert!(!machine.store_dir().join("secrets.json").exists());
}
