//! Workspace automation, std only: `cargo xtask test` runs every test layer in
//! order and prints a summary; `cargo xtask bindings` generates the language
//! bindings (once the FFI crate exists). Works from any directory.

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const USAGE: &str = "usage: cargo xtask <command>

commands:
  test      run every test layer (Rust, keyring, Python, Kotlin, Swift, Dart) and print a summary
  bindings  generate the language bindings under bindings/<lang>/generated/";

const KEYRING_TEST: &str = "crates/authstate/tests/keyring_linux.rs";
/// The pinned real OpenID provider the integration tests start.
const OIDC_PEER: &str = "tests/peers/oidc";
/// Set for the Rust layer once the peers are installed: a test that cannot
/// start its peer then fails instead of skipping.
const REQUIRE_PEERS: &str = "AUTHSTATE_REQUIRE_PEERS";
const FFI_PENDING: &str = "bindings arrive with the FFI issue (#4)";

/// How one layer ended.
enum Outcome {
    Passed,
    Failed(String),
    Skipped(String),
}

/// One test layer: runs (or skips) against the workspace root.
type Layer = fn(&Path) -> Outcome;

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["test"] => test(),
        ["bindings"] => bindings(),
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
fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().and_then(Path::parent).unwrap_or(manifest).to_path_buf()
}

/// The cargo that launched us (`$CARGO`), or `cargo` from PATH.
fn cargo() -> OsString {
    env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// Whether an executable named `name` is on PATH.
fn on_path(name: &str) -> bool {
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
fn run(dir: &Path, program: impl Into<OsString>, args: &[&str]) -> Outcome {
    run_with(dir, program, args, &[])
}

/// Like [`run`], with extra environment variables.
fn run_with(dir: &Path, program: impl Into<OsString>, args: &[&str], vars: &[(&str, &str)]) -> Outcome {
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

/// `PROPTEST_CASES` from the environment, 5000 when unset.
fn proptest_cases() -> String {
    env::var("PROPTEST_CASES").unwrap_or_else(|_| "5000".to_owned())
}

fn test() -> ExitCode {
    let root = workspace_root();
    let layers: [(&str, Layer); 7] = [
        ("peers", peers_layer),
        ("rust", rust_layer),
        ("keyring", keyring_layer),
        ("python", python_layer),
        ("kotlin", kotlin_layer),
        ("swift", swift_layer),
        ("dart", dart_layer),
    ];
    let mut results = Vec::with_capacity(layers.len());
    for (i, (name, layer)) in layers.iter().enumerate() {
        println!("\n==== [{}/{}] {name} ====", i + 1, layers.len());
        let outcome = layer(&root);
        match &outcome {
            Outcome::Passed => println!("PASS {name}"),
            Outcome::Failed(why) => println!("FAIL {name}: {why}"),
            Outcome::Skipped(why) => println!("SKIP {name}: {why}"),
        }
        results.push((*name, outcome));
    }
    println!("\n==== summary ====");
    println!("{:<8}  {:<7}  detail", "layer", "result");
    for (name, outcome) in &results {
        let (word, detail) = match outcome {
            Outcome::Passed => ("passed", ""),
            Outcome::Failed(why) => ("FAILED", why.as_str()),
            Outcome::Skipped(why) => ("skipped", why.as_str()),
        };
        println!("{name:<8}  {word:<7}  {detail}");
    }
    let failed = results.iter().filter(|(_, o)| matches!(o, Outcome::Failed(_))).count();
    if failed == 0 {
        println!("\nall layers passed or were skipped");
        ExitCode::SUCCESS
    } else {
        println!("\n{failed} layer(s) failed");
        ExitCode::FAILURE
    }
}

/// Layer 0: installs the pinned real servers the integration tests start
/// (`npm ci` for oidc-provider). Without node the real-server tests skip
/// themselves, each printing why.
fn peers_layer(root: &Path) -> Outcome {
    let dir = root.join(OIDC_PEER);
    let missing: Vec<&str> = ["node", "npm"].into_iter().filter(|tool| !on_path(tool)).collect();
    if !missing.is_empty() {
        return Outcome::Skipped(format!(
            "{} not found on PATH: the oidc-provider tests will skip themselves",
            missing.join(" and ")
        ));
    }
    if peers_installed(root) {
        println!("{OIDC_PEER}: node_modules up to date with package-lock.json");
        return Outcome::Passed;
    }
    run(&dir, "npm", &["ci", "--no-audit", "--no-fund", "--loglevel=error"])
}

/// Whether `npm ci` has run since package-lock.json last changed.
fn peers_installed(root: &Path) -> bool {
    let dir = root.join(OIDC_PEER);
    let modified = |p: PathBuf| p.metadata().and_then(|m| m.modified()).ok();
    match (modified(dir.join("package-lock.json")), modified(dir.join("node_modules/.package-lock.json"))) {
        (Some(lock), Some(installed)) => installed >= lock,
        _ => false,
    }
}

/// Layer 1: Rust unit, property, integration (real servers included) and
/// doc tests, every feature.
fn rust_layer(root: &Path) -> Outcome {
    println!("PROPTEST_CASES={}", proptest_cases());
    let demanded = env::var(REQUIRE_PEERS).is_ok_and(|v| v == "1");
    let require = if demanded || (on_path("node") && peers_installed(root)) { "1" } else { "0" };
    println!("{REQUIRE_PEERS}={require}");
    run_with(root, cargo(), &["test", "--workspace", "--all-features"], &[(REQUIRE_PEERS, require)])
}

/// Layer 2: the real Linux kernel keyring, inside a throwaway session keyring.
fn keyring_layer(root: &Path) -> Outcome {
    if !cfg!(target_os = "linux") {
        return Outcome::Skipped("the kernel keyring exists on Linux only".into());
    }
    let mut why = Vec::new();
    if !on_path("keyctl") {
        why.push("keyctl not found (apt-get install keyutils)");
    }
    if !root.join(KEYRING_TEST).is_file() {
        why.push("tests/keyring_linux.rs not written yet");
    }
    if !why.is_empty() {
        return Outcome::Skipped(why.join("; "));
    }
    let cargo = cargo();
    let cargo = cargo.to_string_lossy();
    let mut args = vec!["session", "-", cargo.as_ref()];
    args.extend("test -p authstate --features keyutils --test keyring_linux -- --include-ignored".split(' '));
    run(root, "keyctl", &args)
}

/// Layer 3a: pytest over the generated Python module.
fn python_layer(root: &Path) -> Outcome {
    if !root.join("bindings/python/tests").is_dir() {
        return Outcome::Skipped(FFI_PENDING.into());
    }
    run_python_tests(root)
}

/// Generates the bindings, then runs pytest on bindings/python/tests with the
/// generated module on `PYTHONPATH`.
fn run_python_tests(root: &Path) -> Outcome {
    let python = if on_path("python3") { "python3" } else { "python" };
    if !on_path(python) {
        return Outcome::Skipped("python3 not found on PATH".into());
    }
    let probe = Command::new(python).args(["-c", "import pytest"]).status();
    if !probe.is_ok_and(|s| s.success()) {
        return Outcome::Skipped("pytest not installed (pip install -r bindings/python/requirements.txt)".into());
    }
    if let Err(why) = generate_bindings(root) {
        return Outcome::Failed(why);
    }
    let path = root.join("bindings/python/generated");
    let path = path.to_string_lossy();
    run_with(root, python, &["-m", "pytest", "-q", "bindings/python/tests"], &[("PYTHONPATH", path.as_ref())])
}

/// Layer 3b: JUnit tests of the Kotlin (JVM + JNA) bindings.
fn kotlin_layer(root: &Path) -> Outcome {
    if !root.join("bindings/kotlin/src/test").is_dir() {
        return Outcome::Skipped("the Kotlin tests arrive with the rest of #4 (bindings are generated)".into());
    }
    run_kotlin_tests(root)
}

/// TODO(#4): build the cdylib, generate the Kotlin sources, run the JUnit suite.
fn run_kotlin_tests(_root: &Path) -> Outcome {
    Outcome::Skipped("TODO(#4): bindings/kotlin exists but its runner is not written".into())
}

/// Why a tool-driven layer cannot run: its tool is not on PATH and/or its
/// bindings directory does not exist yet. `None` when both are present.
fn missing(root: &Path, dir: &str, tool: &str) -> Option<String> {
    let mut why = Vec::new();
    if !on_path(tool) {
        why.push(format!("{tool} not found on PATH"));
    }
    if !root.join(dir).is_dir() {
        why.push(FFI_PENDING.to_owned());
    }
    (!why.is_empty()).then(|| why.join("; "))
}

/// Layer 4a: XCTest over the Swift package.
fn swift_layer(root: &Path) -> Outcome {
    if let Some(why) = missing(root, "bindings/swift", "swift") {
        return Outcome::Skipped(why);
    }
    run_swift_tests(root)
}

/// TODO(#4): generate the Swift sources, then `swift test` in bindings/swift.
fn run_swift_tests(_root: &Path) -> Outcome {
    Outcome::Skipped("TODO(#4): bindings/swift exists but its runner is not written".into())
}

/// Layer 4b: the Dart package tests.
fn dart_layer(root: &Path) -> Outcome {
    if let Some(why) = missing(root, "bindings/dart", "dart") {
        return Outcome::Skipped(why);
    }
    run_dart_tests(root)
}

/// TODO(#4): generate the Dart library, then `dart test` in bindings/dart.
fn run_dart_tests(_root: &Path) -> Outcome {
    Outcome::Skipped("TODO(#4): bindings/dart exists but its runner is not written".into())
}

fn bindings() -> ExitCode {
    match generate_bindings(&workspace_root()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("bindings: {why}");
            ExitCode::FAILURE
        }
    }
}

/// The languages `uniffi-bindgen` generates (Dart needs uniffi-bindgen-dart: TODO(#4)).
const BINDGEN_LANGUAGES: [&str; 3] = ["python", "kotlin", "swift"];

/// Builds the release cdylib, generates each language's sources from the
/// unstripped library (a full strip removes UniFFI's metadata) under
/// `bindings/<lang>/generated/`, then places a stripped copy of the library
/// beside the Python and Kotlin sources, which load it at run time.
fn generate_bindings(root: &Path) -> Result<(), String> {
    let ok = |outcome: Outcome, what: &str| match outcome {
        Outcome::Passed => Ok(()),
        Outcome::Failed(why) | Outcome::Skipped(why) => Err(format!("{what}: {why}")),
    };
    ok(run(root, cargo(), &["build", "--release", "-p", "authstate-ffi"]), "building the cdylib")?;
    ok(run(root, cargo(), &["build", "-p", "uniffi-bindgen"]), "building uniffi-bindgen")?;
    let target = env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let library = target.join("release").join(cdylib_name());
    let bindgen = target.join("debug").join(format!("uniffi-bindgen{}", env::consts::EXE_SUFFIX));
    let library_arg = library.to_string_lossy().into_owned();
    for language in BINDGEN_LANGUAGES {
        let out = root.join("bindings").join(language).join("generated");
        let out_arg = out.to_string_lossy().into_owned();
        let args = [
            "generate",
            "--no-format",
            "--library",
            &library_arg,
            "--language",
            language,
            "--out-dir",
            &out_arg,
            "--config",
            "uniffi.toml",
        ];
        ok(run(root, &bindgen, &args), &format!("generating {language}"))?;
    }
    for language in ["python", "kotlin"] {
        let copy = root.join("bindings").join(language).join("generated").join(cdylib_name());
        std::fs::copy(&library, &copy).map_err(|e| format!("copying the cdylib: {e}"))?;
        if on_path("strip") {
            let copy_arg = copy.to_string_lossy().into_owned();
            ok(run(root, "strip", &["--strip-unneeded", &copy_arg]), "stripping the cdylib")?;
        }
        let size = copy.metadata().map(|m| m.len()).unwrap_or(0);
        println!("bindings/{language}/generated/{}: {size} bytes ({:.2} MB)", cdylib_name(), size as f64 / 1e6);
    }
    println!("bindings: generated {} under bindings/<lang>/generated/", BINDGEN_LANGUAGES.join(", "));
    Ok(())
}

/// The platform's file name for the FFI cdylib.
fn cdylib_name() -> String {
    format!("{}authstate_ffi{}", env::consts::DLL_PREFIX, env::consts::DLL_SUFFIX)
}
