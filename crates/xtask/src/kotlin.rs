//! Layer 3b: JUnit 5 tests of the Kotlin bindings on the JVM (JNA).
//!
//! Tools: `kotlinc-jvm` from the npm package `kotlin-compiler`, pinned in
//! `tests/tools/kotlin` (its `lib/` also ships kotlinx-coroutines), and the
//! Debian packages `libjna-java` and `junit5` for JNA and the JUnit console
//! launcher. Build output goes to `target/kotlin/`.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

use crate::{OIDC_PEER, Outcome, REQUIRE_PEERS, bindings, missing_tool, run, run_with};

/// The pinned Kotlin compiler's npm project.
const TOOLS: &str = "tests/tools/kotlin";
/// The compiler inside it.
const COMPILER: &str = "node_modules/kotlin-compiler";
/// JNA, from Debian's `libjna-java`.
const JNA_JAR: &str = "/usr/share/java/jna.jar";
/// JUnit 5's console launcher with the Jupiter API and engine, from Debian's `junit5`.
const JUNIT_JAR: &str = "/usr/share/java/junit-platform-console-standalone.jar";
/// The hand-written Kotlin: the idiomatic layer, the tests and the benchmark.
const KOTLIN: &str = "bindings/kotlin/src";

/// Runs the Kotlin suite, or skips with the reason.
pub(crate) fn layer(root: &Path) -> Outcome {
    if !root.join(KOTLIN).join("test").is_dir() {
        return Outcome::Skipped("bindings/kotlin/src/test not written yet".into());
    }
    if let Some(why) = missing(root) {
        return Outcome::Skipped(why);
    }
    match suite(root) {
        Ok(outcome) => outcome,
        Err(why) => Outcome::Failed(why),
    }
}

/// Why the layer cannot run (a missing tool or jar, with how to get it); `None` when it can.
fn missing(root: &Path) -> Option<String> {
    for (tool, package) in [("java", "default-jdk-headless"), ("node", "nodejs"), ("npm", "npm")] {
        if let Some(why) = missing_tool(tool) {
            return Some(format!("{why} (apt-get install {package})"));
        }
    }
    for (jar, package) in [(JNA_JAR, "libjna-java"), (JUNIT_JAR, "junit5")] {
        if !Path::new(jar).is_file() {
            return Some(format!("{jar} not found (apt-get install {package})"));
        }
    }
    (!root.join(TOOLS).join("package-lock.json").is_file()).then(|| format!("{TOOLS}/package-lock.json missing"))
}

/// Installs the compiler, generates the bindings, compiles, runs JUnit.
fn suite(root: &Path) -> Result<Outcome, String> {
    install_compiler(root)?;
    bindings::generate(root)?;

    let lib = root.join(TOOLS).join(COMPILER).join("lib");
    let (jna, junit) = (PathBuf::from(JNA_JAR), PathBuf::from(JUNIT_JAR));
    let coroutines = lib.join("kotlinx-coroutines-core-jvm.jar");
    let out = bindings::target_dir(root).join("kotlin");
    let (main, test, native) = (out.join("main"), out.join("test"), out.join("lib"));
    for dir in [&main, &test, &native] {
        let _ = fs::remove_dir_all(dir);
        fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    // The JVM maps its own copy, so a concurrent `cargo xtask bindings` cannot
    // rewrite the library under the running tests.
    let generated = bindings::generated_dir(root, "kotlin");
    let cdylib = bindings::cdylib_name();
    fs::copy(generated.join(&cdylib), native.join(&cdylib)).map_err(|e| format!("copying {cdylib}: {e}"))?;

    let src = root.join(KOTLIN);
    let kotlinc = root.join(TOOLS).join(COMPILER).join("bin/kotlinc-jvm");
    let sources = [generated.join("dev/authstate/authstate_ffi.kt"), src.join("main/kotlin")];
    let args = compile_args(&main, &[&jna, &coroutines], &sources, true)?;
    run(root, &kotlinc, &strs(&args)).into_result("compiling the bindings and src/main")?;
    let sources = [src.join("test/kotlin"), src.join("bench/kotlin")];
    let args = compile_args(&test, &[&jna, &coroutines, &junit, &main], &sources, false)?;
    run(root, &kotlinc, &strs(&args)).into_result("compiling src/test and src/bench")?;

    let classpath = classpath(&[&main, &test, &jna, &coroutines, &lib.join("kotlin-stdlib.jar")])?;
    let args = [
        format!("-Djna.library.path={}", text(&native)),
        format!("-Dauthstate.root={}", text(root)),
        "-jar".into(),
        text(&junit),
        "--class-path".into(),
        classpath,
        format!("--scan-classpath={}", text(&test)),
        "--fail-if-no-tests".into(),
        "--disable-banner".into(),
        "--disable-ansi-colors".into(),
        "--details=tree".into(),
    ];
    let require = if env::var(REQUIRE_PEERS).is_ok_and(|v| v == "1") || peers_installed(root) { "1" } else { "0" };
    println!("{REQUIRE_PEERS}={require}");
    Ok(run_with(root, "java", &strs(&args), &[(REQUIRE_PEERS, require)]))
}

/// `npm ci` in [`TOOLS`] unless `node_modules` is up to date with the lock file.
fn install_compiler(root: &Path) -> Result<(), String> {
    let dir = root.join(TOOLS);
    let modified = |p: PathBuf| p.metadata().and_then(|m| m.modified()).ok();
    let lock = modified(dir.join("package-lock.json"));
    let installed = modified(dir.join("node_modules/.package-lock.json"));
    if matches!((lock, installed), (Some(lock), Some(installed)) if installed >= lock)
        && dir.join(COMPILER).join("bin/kotlinc-jvm").is_file()
    {
        println!("{TOOLS}: node_modules up to date with package-lock.json");
        return Ok(());
    }
    run(&dir, "npm", &["ci", "--no-audit", "--no-fund", "--loglevel=error"]).into_result("installing kotlinc")
}

/// Whether the real OpenID provider can start (node and its node_modules):
/// then a test that cannot start it fails instead of skipping, as in the Rust layer.
fn peers_installed(root: &Path) -> bool {
    crate::on_path("node") && root.join(OIDC_PEER).join("node_modules/oidc-provider/package.json").is_file()
}

/// `kotlinc-jvm` arguments compiling `sources` into `out` against `deps`.
fn compile_args(out: &Path, deps: &[&Path], sources: &[PathBuf], quiet: bool) -> Result<Vec<String>, String> {
    let mut args = vec!["-d".into(), text(out), "-cp".into(), classpath(deps)?];
    if quiet {
        args.push("-nowarn".into()); // the generated sources warn a lot
    }
    args.extend(sources.iter().map(|s| text(s)));
    Ok(args)
}

/// A JVM class path from `parts`.
fn classpath(parts: &[&Path]) -> Result<String, String> {
    let joined = env::join_paths(parts).map_err(|e| format!("class path: {e}"))?;
    Ok(joined.to_string_lossy().into_owned())
}

/// `path` as text for a command line.
fn text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// The arguments as `&str`, as [`run`] takes them.
fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}
