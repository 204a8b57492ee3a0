//! The README's password-server quickstart, run as written against the real
//! Django REST framework test server: every `authstate` line of its code
//! block, in order, with the server's port for 8000. The one line that asks
//! for the password on a terminal is given `--password-stdin` (a test has
//! no terminal); `$PASSWORD` is the password the README exports.

mod common;

use common::django_peer::{DjangoOptions, DjangoPeer};
use common::{Machine, PASSWORD};

const README: &str = include_str!("../README.md");
/// The text just before the code block to run.
const MARKER: &str = "One base URL holds one server";
/// The base URL the README's commands use.
const README_BASE: &str = "http://127.0.0.1:8000";

/// One command of the README: its arguments, and what it reads on stdin.
#[derive(Debug)]
struct Step {
    line: String,
    args: Vec<String>,
    stdin: String,
}

/// The `authstate` commands of the code block after [`MARKER`], with
/// `base` for the README's base URL.
fn quickstart(base: &str) -> Vec<Step> {
    let after = README.split_once(MARKER).expect("the README's quickstart marker").1;
    let block = after.split_once("```sh\n").expect("a code block after the marker").1;
    let block = block.split_once("```").expect("the code block ends").0;
    let password_export = README
        .lines()
        .find_map(|l| l.strip_prefix("export PASSWORD='")?.strip_suffix('\''))
        .expect("the README exports PASSWORD");
    assert_eq!(password_export, PASSWORD, "the README's password is the one the test user gets");
    let mut steps = Vec::new();
    for line in block.lines().filter(|l| !l.trim().is_empty()) {
        let command = line.split_once("  #").map_or(line, |(command, _comment)| command).trim();
        let (stdin, command) = match command.split_once(" | ") {
            Some((feed, command)) => {
                assert_eq!(feed, "printf '%s\\n' \"$PASSWORD\"", "an unexpected pipe in {line:?}");
                (format!("{PASSWORD}\n"), command)
            }
            None => (String::new(), command),
        };
        let mut words = command.split_whitespace();
        assert_eq!(words.next(), Some("authstate"), "not an authstate command: {line:?}");
        let mut args: Vec<String> = words.map(|w| w.replacen(README_BASE, base, 1)).collect();
        let mut stdin = stdin;
        if args.first().is_some_and(|a| a == "login") && !args.iter().any(|a| a == "--password-stdin") {
            // The terminal prompt, answered through stdin instead.
            args.push("--password-stdin".into());
            stdin = format!("{PASSWORD}\n");
        }
        steps.push(Step { line: line.to_owned(), args, stdin });
    }
    steps
}

#[test]
fn the_quickstart_is_a_block_of_authstate_commands() {
    let steps = quickstart("http://127.0.0.1:1");
    assert!(steps.len() >= 8, "{steps:?}");
    let adds: Vec<&Step> = steps.iter().filter(|s| s.args.starts_with(&["server".into(), "add".into()])).collect();
    assert_eq!(adds.len(), 2, "{steps:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_quickstart_works_as_written() {
    let Some(peer) = DjangoPeer::start(DjangoOptions::default()).await else { return };
    peer.create_user("alice", PASSWORD).await;
    let machine = Machine::new();
    let mut outputs = Vec::new();
    for step in quickstart(&peer.base_url()) {
        let args: Vec<&str> = step.args.iter().map(String::as_str).collect();
        let run = machine.run_with_stdin(&args, &step.stdin);
        assert_eq!(run.code, Some(0), "README line {:?} failed\n{run}", step.line);
        outputs.push((step, run.reveals_none(&[PASSWORD])));
    }
    let output_of = |first: &[&str]| {
        outputs
            .iter()
            .find(|(step, _)| step.args.iter().map(String::as_str).take(first.len()).eq(first.iter().copied()))
            .map(|(_, run)| run.clone())
            .unwrap_or_else(|| panic!("no README line {first:?}"))
    };

    // What the comments promise.
    let token = output_of(&["token", "api"]).stdout;
    let sessions = output_of(&["sessions", "notes"]);
    assert!(sessions.stdout.lines().any(|l| l.starts_with('*')), "{sessions}");
    let status = output_of(&["status"]);
    for alias in ["api", "notes"] {
        let line = status.stdout.lines().find(|l| l.starts_with(alias)).unwrap_or_else(|| panic!("{status}"));
        assert!(line.contains("active"), "{status}");
    }
    output_of(&["logout", "api"]).stderr_has("Signed out of api; the server revoked the session.");
    output_of(&["logout", "notes", "--everywhere"]).stderr_has("on every device");
    assert!(!token.trim().is_empty());
    // One sign-in at each endpoint (knox's under the longer base URL), and its log-out-all.
    let counts = peer.counts().await;
    assert_eq!((counts.jwt_login, counts.knox_login, counts.logoutall), (1, 1, 1), "{counts:?}");
    for alias in ["api", "notes"] {
        assert_eq!(machine.status_of(alias)["state"], "no_session");
    }
}
