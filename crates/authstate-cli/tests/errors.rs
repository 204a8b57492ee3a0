//! Wrong input and failing servers: each ends with the documented exit code,
//! one `error:` line (and a `hint:` where it helps), nothing on stdout, and
//! never a password or a token in the output.

mod common;

use common::django_peer::{DjangoOptions, DjangoPeer};
use common::{Machine, PASSWORD, closed_port};

#[test]
fn help_documents_the_exit_codes() {
    let help = Machine::new().run(&["--help"]).success();
    for line in ["Exit codes:", "3  unknown server alias", "4  sign-in required", "7  secret store"] {
        assert!(help.stdout.contains(line), "--help lacks {line:?}\n{help}");
    }
}

#[test]
fn unknown_alias_is_exit_3_with_a_hint() {
    let machine = Machine::new();
    for args in [
        &["token", "prod"][..],
        &["login", "prod"],
        &["logout", "prod"],
        &["sessions", "prod"],
        &["server", "remove", "prod"],
    ] {
        machine
            .run(args)
            .code(3)
            .one_line_error()
            .stderr_has("\"prod\"")
            .stderr_has("hint: run `authstate server list`");
    }
}

#[test]
fn malformed_input_is_exit_2() {
    let machine = Machine::new();
    machine
        .run(&["server", "add", "not a url", "--provider", "token-pair"])
        .code(2)
        .one_line_error()
        .stderr_has("not a valid URL");
    machine.run(&["server", "add", "http://example.com", "--provider", "token-pair"]).code(2).stderr_has("https");
    machine.run(&["server", "add", "https://id.example.com"]).code(2).stderr_has("--client-id is required");
    machine.run(&["server", "add", "https://x.example.com", "--provider", "opaque", "--client-id", "a"]).code(2);
    machine
        .run(&["server", "add", "https://x.example.com", "--provider", "token-pair", "--login-path", "/abs/"])
        .code(2);
    machine.run(&["token", "Not-An-Alias"]).code(2);
    machine.run(&["no-such-command"]).code(2);
    machine.add_server(&["https://x.example.com", "--alias", "x", "--provider", "token-pair"]);
    machine.run(&["server", "add", "https://y.example.com", "--alias", "x", "--provider", "token-pair"]).code(2);
    machine.run(&["sessions", "x"]).code(2).one_line_error().stderr_has("no device sessions");
    machine.run(&["--ca-cert", "/nonexistent/ca.pem", "status"]).code(2).one_line_error();
}

#[test]
fn token_when_never_signed_in_is_exit_4_with_the_login_hint() {
    let machine = Machine::new();
    machine.add_server(&["https://x.example.com", "--alias", "prod", "--provider", "token-pair"]);
    machine.run(&["token", "prod"]).code(4).one_line_error().stderr_has("hint: run `authstate login prod`");
    assert_eq!(machine.status_of("prod")["state"], "no_session");
}

#[test]
fn unreachable_server_is_exit_5() {
    let machine = Machine::new();
    let url = format!("http://127.0.0.1:{}", closed_port());
    machine.add_server(&[&url, "--alias", "down", "--provider", "token-pair"]);
    machine
        .password_login("down", "alice", PASSWORD, &[])
        .code(5)
        .one_line_error()
        .stderr_has("unreachable")
        .reveals_none(&[PASSWORD]);
    assert_eq!(machine.status_of("down")["state"], "no_session");
}

#[test]
fn a_bad_certificate_file_is_a_setup_error() {
    let machine = Machine::new();
    let not_pem = machine.store_dir().join("not-a-cert.pem");
    std::fs::write(&not_pem, "hello").expect("write");
    machine.run(&["--ca-cert", not_pem.to_str().expect("utf-8 path"), "status"]).code(6).one_line_error();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_password_and_stopped_server() {
    let Some(mut peer) = DjangoPeer::start(DjangoOptions::default()).await else { return };
    peer.create_user("alice", PASSWORD).await;
    let machine = Machine::new();
    machine.add_server(&[&peer.base_url(), "--alias", "api", "--provider", "opaque"]);

    let wrong = "not-the-password-4711";
    // The hint says what was wrong, not "run `authstate login api`": that is what just ran.
    for user in ["alice", "nobody"] {
        let run = machine
            .password_login("api", user, wrong, &[])
            .code(4)
            .one_line_error()
            .stderr_has("error: api: the server refused the username or password")
            .stderr_has("hint: check the username and password, then try again")
            .reveals_none(&[wrong]);
        assert!(!run.stderr.contains("authstate login"), "{run}");
    }
    assert_eq!(machine.status_of("api")["state"], "no_session");

    machine.password_login("api", "alice", PASSWORD, &[]).success().reveals_none(&[PASSWORD]);
    let token = machine.token("api");

    // The server goes away: calls that need it say "try later", and nothing changes.
    peer.stop();
    machine
        .run(&["sessions", "api"])
        .code(5)
        .one_line_error()
        .stderr_has("hint: nothing was changed")
        .reveals_none(&[&token, PASSWORD]);
    machine.password_login("api", "alice", PASSWORD, &[]).code(5).one_line_error().reveals_none(&[&token, PASSWORD]);
    assert_eq!(machine.status_of("api")["state"], "active");
    assert_eq!(machine.token("api"), token, "an outage must not sign the device out");
}
