//! The layers that need no foreign toolchain beyond Python: the real test
//! servers, Rust, the kernel keyring, pytest over the Python bindings.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{KEYRING_TEST, OIDC_PEER, Outcome, REQUIRE_PEERS, bindings, cargo, on_path, proptest_cases, run, run_with};

/// The pinned Django REST framework server the integration tests start.
const DJANGO_PEER: &str = "tests/peers/django";
/// What the Python binding tests need (pytest), pinned.
const PYTHON_REQUIREMENTS: &str = "bindings/python/requirements.txt";

/// Layer 0: installs the pinned real servers the integration tests start
/// (`pip install` for the Django server unless its packages import already,
/// then `npm ci` for oidc-provider). Without pip or node the tests of that
/// server skip themselves, each printing why.
pub(crate) fn peers(root: &Path) -> Outcome {
    match django_peer(root) {
        Outcome::Failed(why) => return Outcome::Failed(format!("{DJANGO_PEER}: {why}")),
        Outcome::Skipped(why) | Outcome::StaticOnly(why) => println!("{DJANGO_PEER}: {why}"),
        Outcome::Passed => {}
    }
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

/// `pip install -r requirements.txt` for the Django server, when needed and possible.
fn django_peer(root: &Path) -> Outcome {
    if django_installed() {
        println!("{DJANGO_PEER}: its packages are importable");
        return Outcome::Passed;
    }
    if !has_pip("python3") {
        return Outcome::Skipped("python3 with pip not found: the Django server tests will skip themselves".into());
    }
    let requirements = format!("{DJANGO_PEER}/requirements.txt");
    run(root, "python3", &["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", &requirements])
}

/// Whether python3 imports what the Django server needs.
fn django_installed() -> bool {
    imports("python3", "import django, rest_framework, rest_framework_simplejwt, knox")
}

/// Whether `python` runs `statement` (an import) without error.
fn imports(python: &str, statement: &str) -> bool {
    let probe = Command::new(python).args(["-c", statement]).output();
    probe.is_ok_and(|out| out.status.success())
}

/// Whether `python -m pip` works.
fn has_pip(python: &str) -> bool {
    imports(python, "import pip")
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
pub(crate) fn rust(root: &Path) -> Outcome {
    println!("PROPTEST_CASES={}", proptest_cases());
    let demanded = env::var(REQUIRE_PEERS).is_ok_and(|v| v == "1");
    let installed = on_path("node") && peers_installed(root) && django_installed();
    let require = if demanded || installed { "1" } else { "0" };
    println!("{REQUIRE_PEERS}={require}");
    run_with(root, cargo(), &["test", "--workspace", "--all-features"], &[(REQUIRE_PEERS, require)])
}

/// Layer 2: the real Linux kernel keyring, inside a throwaway session keyring:
/// the core's keyring test, then the CLI's (its default secret store).
pub(crate) fn keyring(root: &Path) -> Outcome {
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
    for suite in [
        "test -p authstate --features keyutils --test keyring_linux -- --include-ignored",
        "test -p authstate-cli --test keyring -- --include-ignored",
    ] {
        let mut args = vec!["session", "-", cargo.as_ref()];
        args.extend(suite.split(' '));
        match run(root, "keyctl", &args) {
            Outcome::Passed => {}
            other => return other,
        }
    }
    Outcome::Passed
}

/// Layer 3a: pytest over the generated Python module; installs pytest from
/// `bindings/python/requirements.txt` first when it does not import, the
/// way [`peers`] installs the Django server's packages.
pub(crate) fn python(root: &Path) -> Outcome {
    run_python_tests(root)
}

/// Generates the bindings, then runs pytest on bindings/python/tests with the
/// generated module on `PYTHONPATH`.
fn run_python_tests(root: &Path) -> Outcome {
    let python = if on_path("python3") { "python3" } else { "python" };
    if !on_path(python) {
        return Outcome::Skipped("python3 not found on PATH".into());
    }
    if !imports(python, "import pytest") {
        if !has_pip(python) {
            return Outcome::Skipped(format!("pytest not installed and no pip for {python} to install it"));
        }
        let install = ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", PYTHON_REQUIREMENTS];
        if let Err(why) = run(root, python, &install).into_result("installing pytest") {
            return Outcome::Failed(why);
        }
    }
    if let Err(why) = bindings::generate(root) {
        return Outcome::Failed(why);
    }
    let path = root.join("bindings/python/generated");
    let path = path.to_string_lossy();
    run_with(root, python, &["-m", "pytest", "-q", "bindings/python/tests"], &[("PYTHONPATH", path.as_ref())])
}
