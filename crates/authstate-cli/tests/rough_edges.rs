//! The rough edges of issue #16 (item 9) that need no server: a second
//! server on one base URL says why it is refused, a URL's scheme is checked
//! before the provider flags, `status` columns agree with each other, JSON
//! spells providers one way, `logout --everywhere` on a server that cannot
//! do it, and subcommand help without the global options. The parts that
//! need a server are in `errors.rs` (a refused password), `django.rs`
//! (`logout --everywhere`) and `readme.rs` (the README's quickstart).

mod common;

use authstate::{ExpiryReason, TokenGrant};
use common::Machine;
use serde_json::Value;

/// The row of `alias` in the human `status` table, split into its columns
/// (separated by two or more spaces).
fn status_cells(machine: &Machine, alias: &str) -> Vec<String> {
    let run = machine.run(&["status"]).success();
    let line = run
        .stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(alias))
        .unwrap_or_else(|| panic!("no {alias} row\n{run}"));
    line.split("  ").map(str::trim).filter(|c| !c.is_empty()).map(str::to_owned).collect()
}

#[test]
fn a_second_server_on_one_base_url_says_why_and_what_to_do() {
    let machine = Machine::new();
    machine.add_server(&["http://127.0.0.1:8000", "--alias", "api", "--provider", "token-pair"]);
    // The quickstart as it was: the same base URL with another provider.
    machine
        .run(&["server", "add", "http://127.0.0.1:8000", "--alias", "notes", "--provider", "opaque"])
        .code(2)
        .one_line_error()
        .stderr_has("already added as api")
        .stderr_has("a base URL can hold only one server")
        .stderr_has("hint: use `api`")
        .stderr_has("longer base URL (such as http://127.0.0.1:8000/api/v1/");
    // What the hint says works: a longer base URL on the same host.
    machine.add_server(&[
        "http://127.0.0.1:8000/api/v1/",
        "--alias",
        "notes",
        "--provider",
        "opaque",
        "--prefix",
        "auth/",
    ]);
    let listed = machine.run(&["server", "list", "--json"]).success();
    let servers: Vec<Value> = serde_json::from_str(&listed.stdout).expect("server list --json");
    assert_eq!(servers.len(), 2, "{listed}");
    let notes = servers.iter().find(|s| s["alias"] == "notes").expect("notes");
    assert_eq!(notes["url"], "http://127.0.0.1:8000/api/v1/");
    assert_eq!(notes["provider"]["login_path"], "auth/login/", "{listed}");
    // The same server again under its own alias: the hint does not send the user in circles.
    machine
        .run(&["server", "add", "http://127.0.0.1:8000/", "--alias", "api", "--provider", "token-pair"])
        .code(2)
        .one_line_error()
        .stderr_has("`api` is that server");
}

#[test]
fn the_url_scheme_is_checked_before_the_provider_flags() {
    let machine = Machine::new();
    // No --client-id (the default provider, oidc, needs one): the scheme is what is wrong.
    for url in ["ftp://files.example.com", "http://example.com", "file:///etc/passwd"] {
        let run = machine.run(&["server", "add", url]).code(2).one_line_error();
        assert!(!run.stderr.contains("--client-id"), "{run}");
        run.stderr_has("must use https").stderr_has("hint: use an https:// URL; http:// is accepted only on 127.0.0.1");
    }
    // A foreign flag on a bad URL: still the URL first.
    machine
        .run(&["server", "add", "ftp://files.example.com", "--provider", "opaque", "--client-id", "x"])
        .code(2)
        .one_line_error()
        .stderr_has("got scheme \"ftp\"");
    // A good URL then gets the provider's own complaint.
    machine.run(&["server", "add", "https://id.example.com"]).code(2).one_line_error().stderr_has("--client-id");
    // http on loopback is fine.
    machine.add_server(&["http://localhost:9", "--alias", "local", "--provider", "token-pair"]);
    let listed = machine.run(&["server", "list", "--json"]).success();
    assert_eq!(serde_json::from_str::<Vec<Value>>(&listed.stdout).expect("JSON").len(), 1, "{listed}");
}

#[test]
fn status_columns_agree_for_every_session_state() {
    let machine = Machine::new();
    for alias in ["due", "fresh", "lapsed", "marked", "out"] {
        machine.add_server(&[&format!("https://{alias}.example.com"), "--alias", alias, "--provider", "token-pair"]);
    }
    let with_refresh = |access: &str| TokenGrant {
        expires_in: Some(3600),
        refresh: Some(authstate::Secret::new(format!("{access}-refresh"))),
        ..TokenGrant::access_only(access)
    };
    // Active, access token lapsed, a refresh token: `token` refreshes it first.
    machine.sign_in_offline_with("due", with_refresh("due-access"));
    machine.expire_access_token("due");
    // Active, valid for an hour.
    machine.sign_in_offline_with("fresh", with_refresh("fresh-access"));
    // Active, lapsed, nothing to renew it with: the next command finds it expired.
    machine.sign_in_offline("lapsed", "lapsed-access");
    machine.expire_access_token("lapsed");
    // Expired while its access token still had an hour left.
    let marked = machine.sign_in_offline_with("marked", with_refresh("marked-access"));
    marked.mark_expired(ExpiryReason::Unauthorized).expect("mark expired");
    drop(marked);

    let cells = |alias| status_cells(&machine, alias);
    assert_eq!(cells("due")[2..], ["active", "refresh due", "-"]);
    let fresh = cells("fresh");
    assert_eq!(fresh[2], "active");
    assert!(fresh[3].starts_with("59m "), "{fresh:?}");
    assert_eq!(cells("lapsed")[2..], ["expired (no refresh token)", "-", "-"]);
    assert_eq!(cells("marked")[2..], ["expired (the server refused the token)", "-", "-"]);
    assert_eq!(cells("out")[2..], ["signed out", "-", "-"]);
    // Nowhere does `active` stand next to `expired`.
    let table = machine.run(&["status"]).success();
    for line in table.stdout.lines() {
        assert!(!(line.contains("active") && line.contains("expired")), "{line}\n{table}");
    }

    // The JSON says the same.
    let due = machine.status_of("due");
    assert_eq!(due["state"], "active", "{due}");
    assert!(due["expires_in_secs"].as_i64().is_some_and(|s| s <= 0), "{due}");
    let fresh = machine.status_of("fresh");
    assert!(fresh["expires_in_secs"].as_i64().is_some_and(|s| s > 3000), "{fresh}");
    let lapsed = machine.status_of("lapsed");
    assert_eq!((&lapsed["state"], &lapsed["expiry_reason"]), (&"expired".into(), &"no refresh token".into()));
    assert_eq!(lapsed["expires_in_secs"], Value::Null, "{lapsed}");
    let marked = machine.status_of("marked");
    assert_eq!(marked["state"], "expired", "{marked}");
    assert_eq!(marked["expires_in_secs"], Value::Null, "{marked}");
    // And `token` agrees with what `status` said about the lapsed session.
    machine.run(&["token", "lapsed"]).code(4).one_line_error().stderr_has("no refresh token");
    assert_eq!(machine.status_of("lapsed")["state"], "expired");
}

#[test]
fn every_json_output_spells_providers_one_way() {
    let machine = Machine::new();
    machine.add_server(&["https://id.example.com", "--alias", "idp", "--client-id", "cli"]);
    machine.add_server(&["https://jwt.example.com", "--alias", "jwt", "--provider", "token-pair"]);
    // The JSON spellings are accepted as --provider values too.
    machine.add_server(&["https://knox.example.com", "--alias", "knox", "--provider", "opaque_token"]);
    let listed = machine.run(&["server", "list", "--json"]).success();
    let servers: Vec<Value> = serde_json::from_str(&listed.stdout).expect("server list --json");
    let status = machine.run(&["status", "--json"]).success();
    let rows: Vec<Value> = serde_json::from_str(&status.stdout).expect("status --json");
    for (alias, kind) in [("idp", "oidc"), ("jwt", "token_pair"), ("knox", "opaque_token")] {
        let server = servers.iter().find(|s| s["alias"] == alias).expect("listed");
        assert_eq!(server["provider"]["kind"], kind, "{listed}");
        let row = rows.iter().find(|r| r["alias"] == alias).expect("in status");
        assert_eq!(row["provider"], kind, "{status}");
    }
    // People read the --provider spelling.
    let table = machine.run(&["server", "list"]).success();
    for (alias, shown) in [("idp", "oidc"), ("jwt", "token-pair"), ("knox", "opaque")] {
        let line = table.stdout.lines().find(|l| l.starts_with(alias)).expect("a row");
        assert_eq!(line.split_whitespace().last(), Some(shown), "{table}");
    }
    machine
        .run(&["server", "add", "https://a.example.com", "--provider", "token-pair"])
        .success()
        .stderr_has("token-pair)");
}

#[test]
fn logout_everywhere_needs_a_server_that_can() {
    let machine = Machine::new();
    machine.add_server(&["https://jwt.example.com", "--alias", "jwt", "--provider", "token-pair"]);
    machine.add_server(&["https://id.example.com", "--alias", "idp", "--client-id", "cli"]);
    machine.add_server(&["https://knox.example.com", "--alias", "knox", "--provider", "opaque"]);
    machine.sign_in_offline("jwt", "jwt-access");
    for (alias, provider) in [("jwt", "token-pair"), ("idp", "oidc")] {
        machine
            .run(&["logout", alias, "--everywhere"])
            .code(2)
            .one_line_error()
            .stderr_has("cannot sign out every device")
            .stderr_has(&format!("--provider {provider}"))
            .stderr_has("nothing was changed")
            .stderr_has(&format!("hint: run `authstate logout {alias}`"));
    }
    assert_eq!(machine.status_of("jwt")["state"], "active", "refused before anything changed");
    // An opaque server, but signed out: sign in first (its token is what the server needs).
    machine
        .run(&["logout", "knox", "--everywhere"])
        .code(4)
        .one_line_error()
        .stderr_has("not signed in")
        .stderr_has("authstate login knox");
    machine.run(&["logout", "nope", "--everywhere"]).code(3).one_line_error();
    // Unreachable (nothing listens on the port): nothing changes, exit 5.
    let url = format!("http://127.0.0.1:{}", common::closed_port());
    machine.add_server(&[&url, "--alias", "down", "--provider", "opaque"]);
    machine.sign_in_offline("down", "down-token");
    machine.run(&["logout", "down", "--everywhere"]).code(5).one_line_error().reveals_none(&["down-token"]);
    assert_eq!(machine.status_of("down")["state"], "active");
}

#[test]
fn subcommand_help_leaves_the_global_options_to_the_top_level() {
    let machine = Machine::new();
    let top = machine.run(&["--help"]).success();
    for flag in ["--store-dir", "--secrets", "--ca-cert", "AUTHSTATE_STORE_DIR"] {
        assert!(top.stdout.contains(flag), "top-level help lacks {flag}\n{top}");
    }
    for args in [
        &["token", "--help"][..],
        &["server", "add", "--help"],
        &["server", "--help"],
        &["sessions", "--help"],
        &["logout", "-h"],
        &["help", "login"],
        &["help", "server", "list"],
    ] {
        let help = machine.run(args).success();
        for flag in ["--store-dir <", "--secrets <", "--ca-cert <", "AUTHSTATE_SECRETS", "- keyring:"] {
            assert!(!help.stdout.contains(flag), "{args:?} repeats {flag}\n{help}");
        }
        assert!(
            help.stdout.contains("see `authstate --help`"),
            "{args:?} does not point to the global options\n{help}"
        );
    }
    assert!(machine.run(&["logout", "--help"]).success().stdout.contains("--everywhere"));
}

#[test]
fn global_options_still_work_after_the_command() {
    let machine = Machine::new();
    let dir = machine.store_dir().to_str().expect("utf-8 path").to_owned();
    let bare = |args: &[&str]| {
        let mut command = std::process::Command::new(common::binary());
        for var in ["AUTHSTATE_STORE_DIR", "AUTHSTATE_SECRETS", "AUTHSTATE_CA_CERT"] {
            command.env_remove(var);
        }
        command.args(args);
        common::run_command(command, args, "")
    };
    bare(&[
        "server",
        "add",
        "https://x.example.com",
        "--alias",
        "x",
        "--provider",
        "token-pair",
        "--store-dir",
        &dir,
        "--secrets",
        "file",
    ])
    .success();
    bare(&["server", "--store-dir", &dir, "list", "--secrets", "file"]).success();
    let listed = bare(&["status", "--json", "--secrets", "file", "--store-dir", &dir]).success();
    assert!(listed.stdout.contains("\"alias\": \"x\""), "{listed}");
    bare(&["status", "--ca-cert", "/nonexistent/ca.pem", "--store-dir", &dir, "--secrets", "file"])
        .code(2)
        .one_line_error()
        .stderr_has("--ca-cert");
    // The environment too.
    let mut command = std::process::Command::new(common::binary());
    command.env("AUTHSTATE_STORE_DIR", &dir).env("AUTHSTATE_SECRETS", "file").env_remove("AUTHSTATE_CA_CERT");
    command.args(["server", "list"]);
    let run = common::run_command(command, &["server", "list"], "").success();
    assert!(run.stdout.contains("https://x.example.com/"), "{run}");
}
