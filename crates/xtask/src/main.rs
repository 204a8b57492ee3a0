//! Workspace automation, std only: `cargo xtask test` runs every test layer in
//! order and prints a summary; `cargo xtask bindings` generates the language
//! bindings. Works from any directory.

mod bindings;
mod chroot;
mod dart;
mod kotlin;
mod layers;
mod parity;
mod swift;
mod symbols;

use std::env;
use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::thread;
use std::time::{Duration, Instant};

const USAGE: &str = "usage: cargo xtask <command>

commands:
  test [LAYER…]  run every test layer (peers, rust, keyring, python, kotlin, swift, dart,
                 parity), or only the named ones, and print a summary
  bindings       generate the language bindings under bindings/<lang>/generated/";

const KEYRING_TEST: &str = "crates/authstate/tests/keyring_linux.rs";
/// The pinned real OpenID provider the integration tests start.
const OIDC_PEER: &str = "tests/peers/oidc";
/// Set for the Rust layer once the peers are installed: a test that cannot
/// start its peer then fails instead of skipping.
const REQUIRE_PEERS: &str = "AUTHSTATE_REQUIRE_PEERS";

/// How one layer ended.
pub(crate) enum Outcome {
    Passed,
    Failed(String),
    Skipped(String),
    /// Only the checks that need no toolchain ran: the language's own tests
    /// did not (why). Never summarised as `passed`.
    StaticOnly(String),
}

/// One test layer: runs (or skips) against the workspace root.
type Layer = fn(&Path) -> Outcome;

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["test", only @ ..] => test(only),
        ["bindings"] => bindings::command(),
        ["help" | "-h" | "--help"] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// The workspace root: two levels above this crate's manifest directory.
pub(crate) fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().and_then(Path::parent).unwrap_or(manifest).to_path_buf()
}

/// The cargo that launched us (`$CARGO`), or `cargo` from PATH.
pub(crate) fn cargo() -> OsString {
    env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// Whether an executable named `name` is on PATH.
pub(crate) fn on_path(name: &str) -> bool {
    let Some(path) = env::var_os("PATH") else {
        return false;
    };
    env::split_paths(&path).any(|dir| is_executable(&dir.join(name)))
}

#[cfg(unix)]
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(p: &Path) -> bool {
    p.is_file() || p.with_extension("exe").is_file()
}

/// Runs `program args…` in `dir` with `PROPTEST_CASES` set, echoing the command.
pub(crate) fn run(dir: &Path, program: impl Into<OsString>, args: &[&str]) -> Outcome {
    run_with(dir, program, args, &[])
}

/// Like [`run`], with extra environment variables.
pub(crate) fn run_with(dir: &Path, program: impl Into<OsString>, args: &[&str], vars: &[(&str, &str)]) -> Outcome {
    let program = program.into();
    println!("$ {} {}", program.to_string_lossy(), args.join(" "));
    let status = Command::new(&program)
        .args(args)
        .current_dir(dir)
        .env("PROPTEST_CASES", proptest_cases())
        .envs(vars.iter().copied())
        .status();
    match status {
        Ok(s) if s.success() => Outcome::Passed,
        Ok(s) => Outcome::Failed(format!("exited with {s}")),
        Err(e) => Outcome::Failed(format!("could not start {}: {e}", program.to_string_lossy())),
    }
}

/// Runs `command`, echoing its standard output and error as they come, and
/// returns its success with the standard output's text.
pub(crate) fn run_teed(mut command: Command) -> Result<(bool, String), String> {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start {:?}: {e}", command.get_program()))?;
    let stderr = child.stderr.take().map(|err| {
        thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                eprintln!("{line}");
            }
        })
    });
    let mut text = String::new();
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            println!("{line}");
            text.push_str(&line);
            text.push('\n');
        }
    }
    let status = child.wait().map_err(|e| format!("waiting for {:?}: {e}", command.get_program()))?;
    if let Some(thread) = stderr {
        let _ = thread.join();
    }
    Ok((status.success(), text))
}

/// `PROPTEST_CASES` from the environment, 5000 when unset.
fn proptest_cases() -> String {
    env::var("PROPTEST_CASES").unwrap_or_else(|_| "5000".to_owned())
}

fn test(only: &[&str]) -> ExitCode {
    let root = workspace_root();
    let all: [(&str, Layer); 8] = [
        ("peers", layers::peers),
        ("rust", layers::rust),
        ("keyring", layers::keyring),
        ("python", layers::python),
        ("kotlin", kotlin::layer),
        ("swift", swift::layer),
        ("dart", dart::layer),
        ("parity", parity::layer),
    ];
    if let Some(unknown) = only.iter().find(|name| !all.iter().any(|(layer, _)| layer == *name)) {
        eprintln!("unknown layer {unknown:?}\n{USAGE}");
        return ExitCode::from(2);
    }
    let layers: Vec<_> = all.into_iter().filter(|(name, _)| only.is_empty() || only.contains(name)).collect();
    let names: Vec<&str> = layers.iter().map(|(name, _)| *name).collect();
    // Kept until the end: the scripted server every language's scenario runner uses.
    let _scenarios = names.contains(&"parity").then(|| parity::prepare(&root, &names)).flatten();
    let mut results = Vec::with_capacity(layers.len());
    for (i, (name, layer)) in layers.iter().enumerate() {
        println!("\n==== [{}/{}] {name} ====", i + 1, layers.len());
        let started = Instant::now();
        let outcome = layer(&root);
        let took = started.elapsed();
        let secs = took.as_secs_f64();
        match &outcome {
            Outcome::Passed => println!("PASS {name} ({secs:.1} s)"),
            Outcome::Failed(why) => println!("FAIL {name} ({secs:.1} s): {why}"),
            Outcome::Skipped(why) => println!("SKIP {name} ({secs:.1} s): {why}"),
            Outcome::StaticOnly(why) => println!("STATIC-ONLY {name} ({secs:.1} s): {why}"),
        }
        results.push((*name, outcome, took));
    }
    println!("\n==== summary ====");
    print!("{}", summary(&results));
    let failed = results.iter().filter(|(_, o, _)| matches!(o, Outcome::Failed(_))).count();
    if failed == 0 {
        println!("\nno layer failed");
        ExitCode::SUCCESS
    } else {
        println!("\n{failed} layer(s) failed");
        ExitCode::FAILURE
    }
}

/// The summary table: each layer's result word, wall time and detail.
fn summary(results: &[(&str, Outcome, Duration)]) -> String {
    let mut out = format!("{:<8}  {:<11}  {:>8}  detail\n", "layer", "result", "time");
    for (name, outcome, took) in results {
        let (word, detail) = match outcome {
            Outcome::Passed => ("passed", ""),
            Outcome::Failed(why) => ("FAILED", why.as_str()),
            Outcome::Skipped(why) => ("skipped", why.as_str()),
            Outcome::StaticOnly(why) => ("static-only", why.as_str()),
        };
        let time = format!("{:.1} s", took.as_secs_f64());
        out += format!("{name:<8}  {word:<11}  {time:>8}  {detail}").trim_end();
        out.push('\n');
    }
    let total: Duration = results.iter().map(|(_, _, took)| *took).sum();
    out += &format!("{:<8}  {:<11}  {:>8}\n", "total", "", format!("{:.1} s", total.as_secs_f64()));
    out
}

/// Why a tool-driven layer cannot run: `tool` is not on PATH. `None` when it is.
pub(crate) fn missing_tool(tool: &str) -> Option<String> {
    (!on_path(tool)).then(|| format!("{tool} not found on PATH"))
}

impl Outcome {
    /// `Ok` when passed; the reason otherwise, prefixed with `what`.
    pub(crate) fn into_result(self, what: &str) -> Result<(), String> {
        match self {
            Self::Passed => Ok(()),
            Self::Failed(why) | Self::Skipped(why) | Self::StaticOnly(why) => Err(format!("{what}: {why}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_never_calls_a_static_only_layer_passed() {
        let results = [
            ("rust", Outcome::Passed, Duration::from_millis(61_200)),
            ("dart", Outcome::StaticOnly("dart not found on PATH".into()), Duration::from_secs(2)),
            ("kotlin", Outcome::Skipped("java not found".into()), Duration::ZERO),
        ];
        let text = summary(&results);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "rust      passed         61.2 s");
        assert_eq!(lines[2], "dart      static-only     2.0 s  dart not found on PATH");
        assert!(lines[3].starts_with("kotlin    skipped         0.0 s"), "{text}");
        assert_eq!(lines[4].trim_end(), "total                    63.2 s");
    }
}
