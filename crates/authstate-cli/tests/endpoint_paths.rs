//! Endpoint paths through the CLI (DESIGN.md invariant 15, issue #13): every
//! path of the core's hostile corpus given to `server add` as
//! `--login-path`, `--refresh-path`, `--logout-path` or `--prefix` ends with
//! exit 2 and one `error:` line naming the endpoint path, and nothing is
//! stored; ordinary paths are accepted. No server is needed: nothing is sent.

mod common;
#[path = "../../authstate/tests/common/endpoint_corpus.rs"]
mod endpoint_corpus;

use common::Machine;
use endpoint_corpus::Case;

const URL: &str = "https://api.example/tenant-a/";

/// The `server add` flags that take an endpoint path, as `--flag=<path>` (so
/// a path starting with `-` is not read as a flag).
fn flags(path: &str) -> Vec<Vec<String>> {
    let token_pair = |flag: &str| vec!["--provider".into(), "token-pair".into(), format!("--{flag}={path}")];
    // `--prefix` is followed by `login/`, `session/`, …: end it with '/' so
    // the corpus path stays a whole segment.
    let prefix = if path.ends_with('/') { path.to_owned() } else { format!("{path}/") };
    vec![
        token_pair("login-path"),
        token_pair("refresh-path"),
        token_pair("logout-path"),
        vec!["--provider".into(), "opaque".into(), format!("--prefix={prefix}")],
    ]
}

#[test]
fn every_hostile_path_is_exit_2_and_nothing_is_stored() {
    let machine = Machine::new();
    let cases = endpoint_corpus::hostile();
    assert!(cases.len() >= 60, "only {} hostile paths", cases.len());
    let mut tried = 0;
    for Case { path, why } in cases {
        if path.contains('\0') {
            continue; // A process argument cannot hold NUL; the core and FFI tests cover it.
        }
        for flags in flags(&path) {
            let mut args = vec!["server", "add", URL];
            args.extend(flags.iter().map(String::as_str));
            let run = machine.run(&args);
            assert_eq!(run.code, Some(2), "{path:?} ({why})\n{run}");
            run.one_line_error().stderr_has("endpoint path");
            tried += 1;
        }
    }
    assert!(tried >= 240, "only {tried} hostile commands ran");
    let listed = machine.run(&["server", "list", "--json"]).success();
    assert_eq!(listed.stdout.trim(), "[]", "nothing was stored\n{listed}");
}

#[test]
fn ordinary_paths_are_accepted() {
    let machine = Machine::new();
    for (i, Case { path, why }) in endpoint_corpus::ordinary().into_iter().enumerate() {
        for (j, flags) in flags(&path).into_iter().enumerate() {
            let (url, alias) = (format!("https://api{i}-{j}.example/tenant-a/"), format!("s{i}-{j}"));
            let mut args = vec!["server", "add", url.as_str(), "--alias", alias.as_str()];
            args.extend(flags.iter().map(String::as_str));
            let run = machine.run(&args);
            assert_eq!(run.code, Some(0), "{path:?} ({why})\n{run}");
        }
    }
}
