//! Layer 4a: the Swift bindings. Everywhere (no Swift toolchain needed):
//! every function the generated `authstateFFI.h` declares is exported by the
//! release cdylib, the header compiles as C, and the public API of the
//! generated `AuthState.swift` matches `bindings/swift/api.txt`.
//!
//! Then `swift build` and `swift test` in `bindings/swift` against the
//! release cdylib, in Swift 6 language mode with warnings as errors: with the
//! `swift` on PATH, else, on a Debian host where this runs as root, with
//! Debian 13's `swiftlang` (Swift 6.0.3) in a cached chroot that this layer
//! makes the first time ([`crate::chroot`]). Only where neither can run does
//! the layer end `StaticOnly`; with `AUTHSTATE_REQUIRE_SWIFT=1` (as in CI)
//! that is a failure.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;
use std::{env, fs};

use crate::chroot::{self, Recipe};
use crate::symbols::{self, Head};
use crate::{Outcome, bindings, on_path, run, run_teed};

/// The committed snapshot of the generated public API.
const SNAPSHOT: &str = "bindings/swift/api.txt";
const HEADER: &str = "authstateFFI.h";
const SOURCE: &str = "AuthState.swift";
/// The Swift package.
const PACKAGE: &str = "bindings/swift";
/// Set to `1` to fail, rather than end `StaticOnly`, where Swift cannot run.
pub(crate) const REQUIRE_SWIFT: &str = "AUTHSTATE_REQUIRE_SWIFT";

/// Debian 13 with its Swift (`swiftlang` 6.0.3). `libc6-dev`, which
/// `swiftlang` only recommends, holds the C library headers and start files
/// that compiling and linking need; `ca-certificates` the root certificates
/// without which the core's HTTP client, and so every `ServerManager`,
/// cannot be made.
const SWIFT_CHROOT: Recipe = Recipe {
    name: "swift-trixie",
    suite: "trixie",
    packages: &["swiftlang", "libc6-dev", "ca-certificates"],
    check: &["swift", "--version"],
    revision: 1,
};

/// `swift build` and `swift test` flags: the whole package, SwiftPM's
/// generated test-discovery and runner files included, in Swift 6 language
/// mode, every warning an error.
const BUILD_FLAGS: [&str; 6] = ["-Xswiftc", "-swift-version", "-Xswiftc", "6", "-Xswiftc", "-warnings-as-errors"];

/// Runs the static checks, then the Swift suite where Swift can run.
pub(crate) fn layer(root: &Path) -> Outcome {
    let statics = static_checks(root);
    let toolchain = if on_path("swift") {
        Ok(Toolchain::Host)
    } else {
        chroot::unavailable().map_or(Ok(Toolchain::Chroot), |why| Err(format!("swift not found on PATH, and {why}")))
    };
    let missing = toolchain.as_ref().err().cloned();
    let outcome = symbols::then_toolchain(statics, "swift", missing, || match toolchain {
        Ok(toolchain) => swift_test(root, toolchain),
        Err(why) => Outcome::StaticOnly(why),
    });
    required(outcome, env::var(REQUIRE_SWIFT).is_ok_and(|v| v == "1"))
}

/// With `require`, a layer whose Swift tests did not run fails.
fn required(outcome: Outcome, require: bool) -> Outcome {
    match outcome {
        Outcome::StaticOnly(why) | Outcome::Skipped(why) if require => {
            Outcome::Failed(format!("{REQUIRE_SWIFT}=1, but the Swift tests did not run: {why}"))
        }
        other => other,
    }
}

/// Where `swift` runs.
enum Toolchain {
    /// The `swift` on PATH.
    Host,
    /// Debian 13's, in the cached chroot.
    Chroot,
}

/// The checks that need only nm and gcc; generates the bindings first.
pub(crate) fn static_checks(root: &Path) -> Outcome {
    if let Some(why) = symbols::missing_tools(&["nm", "gcc"]) {
        return Outcome::Skipped(why);
    }
    if let Err(why) = symbols::ensure_generated(root) {
        return Outcome::Failed(why);
    }
    let dir = bindings::generated_dir(root, "swift");
    let exported = || {
        let header = symbols::read(&dir.join(HEADER))?;
        let exports = symbols::exported(&bindings::release_library(root))?;
        symbols::check_symbols("Swift header", &header_symbols(&header), &exports, &[])
    };
    let compiles = || compile_header(root, &dir);
    let snapshot = || {
        let source = symbols::read(&dir.join(SOURCE))?;
        symbols::check_snapshot(root, SNAPSHOT, "bindings/swift/generated/AuthState.swift", &api(&source))
    };
    symbols::run_checks(&[
        ("swift: header symbols exported by the cdylib", &exported),
        ("swift: header compiles as C (gcc -fsyntax-only)", &compiles),
        ("swift: public API matches bindings/swift/api.txt", &snapshot),
    ])
}

/// `swift build`, then `swift test`, in [`PACKAGE`] with the release cdylib.
fn swift_test(root: &Path, toolchain: Toolchain) -> Outcome {
    match swift_suite(root, toolchain) {
        Ok(()) => Outcome::Passed,
        Err(why) => Outcome::Failed(why),
    }
}

/// Fails unless both commands succeed and XCTest reports at least one
/// executed test and no failure.
fn swift_suite(root: &Path, toolchain: Toolchain) -> Result<(), String> {
    let target = std::path::absolute(bindings::target_dir(root)).map_err(|e| format!("the target directory: {e}"))?;
    let lib_dir = target.join("release").to_string_lossy().into_owned();
    let search = if cfg!(target_os = "macos") { "DYLD_LIBRARY_PATH" } else { "LD_LIBRARY_PATH" };
    let scenario = scenario_vars()?;
    let mut vars = vec![("AUTHSTATE_LIB_DIR", lib_dir.as_str()), (search, lib_dir.as_str())];
    vars.extend(scenario.iter().map(|(name, value)| (*name, value.as_str())));
    let package = root.join(PACKAGE);

    let chroot = match toolchain {
        Toolchain::Host => None,
        Toolchain::Chroot => {
            let started = Instant::now();
            let made = chroot::provision(&SWIFT_CHROOT)
                .map_err(|why| format!("provisioning the Swift chroot failed: {why}"))?;
            println!("swift: chroot {} ready in {:.1} s", made.dir().display(), started.elapsed().as_secs_f64());
            Some(made)
        }
    };
    // The workspace (and a target directory outside it) at the same paths
    // inside the chroot, so Package.swift and the rpath find the library;
    // so too the scenario steps file's and transcript's directories when
    // they are outside those, so both paths mean the same inside.
    let mut binds: Vec<&Path> = if target.starts_with(root) { vec![root] } else { vec![root, &target] };
    let scenario_dirs = scenario_dirs(&scenario);
    for dir in &scenario_dirs {
        if !binds.iter().any(|bound| dir.starts_with(bound)) {
            binds.push(dir);
        }
    }
    binds.sort_by_key(|dir| dir.components().count()); // a parent before what it holds
    let swift = |args: &[&str]| {
        let args: Vec<&str> = ["swift"].into_iter().chain(args.iter().copied()).collect();
        let place = if chroot.is_some() { ", in the chroot" } else { "" };
        println!("$ {} (in {PACKAGE}{place})", args.join(" "));
        match &chroot {
            Some(chroot) => chroot.command(&binds, &package, &vars, &args),
            None => {
                let mut command = Command::new(args[0]);
                command.args(&args[1..]).current_dir(&package).envs(vars.iter().copied());
                command
            }
        }
    };

    let mut version = swift(&["--version"]);
    if let Ok(out) = version.stdout(Stdio::piped()).stderr(Stdio::null()).output() {
        println!("{}", String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or("").trim());
    }
    let started = Instant::now();
    let build: Vec<&str> = ["build"].into_iter().chain(BUILD_FLAGS).collect();
    if !run_teed(swift(&build))?.0 {
        return Err("swift build failed".into());
    }
    println!("swift: swift build took {:.1} s", started.elapsed().as_secs_f64());

    let started = Instant::now();
    // XCTest only: the suite has no Swift Testing tests, whose runner would
    // otherwise close the output with "0 tests passed".
    let test: Vec<&str> = ["test", "--disable-swift-testing"].into_iter().chain(BUILD_FLAGS).collect();
    let (passed, output) = run_teed(swift(&test))?;
    let took = started.elapsed().as_secs_f64();
    match (passed, executed(&output)) {
        (true, Some((tests, 0))) if tests > 0 => {
            println!("swift: swift test took {took:.1} s: {tests} XCTest tests executed, 0 failures");
            Ok(())
        }
        (true, count) => Err(format!("swift test exited 0 but reported (tests, failures) = {count:?}")),
        (false, Some((tests, failures))) => Err(format!("swift test: {failures} failures in {tests} tests")),
        (false, None) => Err("swift test failed before running any test".into()),
    }
}

/// The scenario suite's variables (tests/scenarios/README.md) that
/// `swift test` gets when they are set here, each with whether it is a path:
/// the steps file, the scripted server's URL and the transcript directory.
const SCENARIO_VARS: [(&str, bool); 3] =
    [("AUTHSTATE_SCENARIO_STEPS", true), ("AUTHSTATE_SCENARIO_SERVER", false), ("AUTHSTATE_TRANSCRIPT_DIR", true)];

/// The [`SCENARIO_VARS`] that are set, paths made absolute (`swift test`
/// runs in the package directory, not in this process's).
fn scenario_vars() -> Result<Vec<(&'static str, String)>, String> {
    let mut vars = Vec::new();
    for (name, is_path) in SCENARIO_VARS {
        let Some(value) = env::var_os(name).filter(|v| !v.is_empty()) else { continue };
        let value = if is_path {
            std::path::absolute(&value).map_err(|e| format!("{name}: {e}"))?.into_os_string()
        } else {
            value
        };
        vars.push((name, value.into_string().map_err(|v| format!("{name} is not UTF-8: {v:?}"))?));
    }
    Ok(vars)
}

/// The existing directories the scenario paths need inside the chroot: the
/// steps file's and the transcript directory.
fn scenario_dirs(vars: &[(&str, String)]) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for (name, value) in vars {
        let path = Path::new(value);
        let dir = match *name {
            "AUTHSTATE_SCENARIO_STEPS" => path.parent(),
            "AUTHSTATE_TRANSCRIPT_DIR" => Some(path),
            _ => None,
        };
        if let Some(dir) = dir.filter(|d| d.is_dir() && d.parent().is_some()) {
            dirs.push(dir.to_path_buf());
        }
    }
    dirs
}

/// The last `Executed N tests, with F failures` line XCTest printed, as
/// `(N, F)`: the line of the suite that holds all the others. Skipped tests
/// (`with K tests skipped and F failures`) count among the N.
fn executed(output: &str) -> Option<(u64, u64)> {
    output.lines().rev().find_map(|line| {
        let rest = line.trim().strip_prefix("Executed ")?;
        let (tests, rest) = rest.split_once(" test")?;
        let rest = rest.split_once(", with ")?.1;
        let rest = rest.split_once(" skipped and ").map_or(rest, |(_, after)| after);
        let (failures, _) = rest.split_once(" failure")?;
        Some((tests.parse().ok()?, failures.parse().ok()?))
    })
}

/// The functions a C header declares whose names start with `uniffi_` or
/// `ffi_`: the native symbols Swift links against.
pub(crate) fn header_symbols(header: &str) -> BTreeSet<String> {
    let clean = symbols::strip(header, &['"']);
    let mut pieces: Vec<&str> = clean.split('(').collect();
    pieces.pop(); // the text after the last `(` precedes no call
    pieces
        .into_iter()
        .map(symbols::trailing_ident)
        .filter(|name| name.starts_with("uniffi_") || name.starts_with("ffi_"))
        .map(str::to_owned)
        .collect()
}

/// `gcc -fsyntax-only` over a one-line C file that includes the header, with
/// Clang's nullability qualifiers defined away.
fn compile_header(root: &Path, dir: &Path) -> Result<(), String> {
    let work = bindings::target_dir(root).join("xtask");
    fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let wrapper = work.join("swift_header_check.c");
    let text =
        format!("/* Written by cargo xtask test: the Swift header must compile as C. */\n#include \"{HEADER}\"\n");
    fs::write(&wrapper, text).map_err(|e| format!("{}: {e}", wrapper.display()))?;
    let include = dir.to_string_lossy();
    let wrapper = wrapper.to_string_lossy();
    let strict = ["-fsyntax-only", "-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Werror"];
    let mut args = strict.to_vec();
    args.extend(["-D_Nonnull=", "-D_Nullable=", "-I", &include, &wrapper]);
    run(root, "gcc", &args).into_result("gcc")
}

/// Words that may precede a declaration keyword.
const MODIFIERS: [&str; 10] =
    ["public", "open", "required", "convenience", "static", "final", "override", "nonisolated", "mutating", "indirect"];

/// The public API of a UniFFI Swift file: every `public`/`open` declaration,
/// every case of a listed enum and every requirement of a listed protocol,
/// members indented under their type. UniFFI's plumbing (marked
/// `@_documentation(visibility: private)`) is left out, with its members.
pub(crate) fn api(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut bodies: Vec<(usize, &str, bool)> = Vec::new(); // (member depth, kind, members listed)
    let (mut hidden, mut prefix) = (false, String::new());
    for Head { depth, text, opens } in symbols::heads(&symbols::strip(source, &['"']), true) {
        bodies.retain(|body| body.0 <= depth);
        if text.starts_with('#') {
            continue;
        }
        if text == "@_documentation(visibility: private)" {
            hidden = true;
            continue;
        }
        let text = std::mem::take(&mut prefix) + &text;
        if text.split(' ').all(|word| MODIFIERS.contains(&word)) {
            prefix = text + " "; // `public` alone on its line, the declaration on the next
            continue;
        }
        let parent = if depth == 0 { Some("file") } else { bodies.last().filter(|b| b.0 == depth && b.2).map(|b| b.1) };
        let listed = !std::mem::take(&mut hidden)
            && match parent {
                Some("protocol") => true,
                Some("enum") => text.starts_with("case ") || is_public(&text),
                Some(_) => is_public(&text),
                None => false,
            };
        if listed {
            out.push(format!("{}{text}", "  ".repeat(depth)));
        }
        if opens {
            bodies.push((depth + 1, kind(&text), listed));
        }
    }
    out
}

/// Whether a modifier before the declaration's name says `public` or `open`.
fn is_public(text: &str) -> bool {
    text.split(' ').take_while(|w| !w.contains(['(', ':', '<', '='])).any(|w| w == "public" || w == "open")
}

/// The kind of type a head declares (`class`, `enum`, `protocol`...), else `body`.
fn kind(text: &str) -> &'static str {
    let types = ["class", "struct", "enum", "protocol", "extension", "actor"];
    let word = text.split(' ').find(|w| !MODIFIERS.contains(w)).unwrap_or("");
    types.into_iter().find(|t| *t == word).unwrap_or("body")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_lists_public_declarations_cases_and_requirements_only() {
        let src = "public protocol P: AnyObject {\n    func f(x: Int) throws -> String\n}\n\
            open class C: P {\n    fileprivate let h: UInt64\n#if swift(>=5.8)\n    @_documentation(visibility: private)\n#endif\n\
            \x20   required public init(unsafeFromHandle h: UInt64) { self.h = h }\n\
            open func f(x: Int)throws  -> String  { switch x { case 1: return \"}\" default: return \"\" } }\n}\n\
            public \nenum E: Error {\n    case A(message: String)\n    /** doc */ case b(\n        /** d */x: Int?\n    )\n}\n\
            #if swift(>=5.8)\n@_documentation(visibility: private)\n#endif\npublic struct FfiConverterE { public static func lift() {} }\n\
            public func noop()  {try! rustCall() { x() }\n}\n";
        assert_eq!(
            api(src),
            [
                "public protocol P: AnyObject",
                "  func f(x: Int) throws -> String",
                "open class C: P",
                "  open func f(x: Int) throws -> String",
                "public enum E: Error",
                "  case A(message: String)",
                "  case b(x: Int?)",
                "public func noop()",
            ]
        );
    }

    #[test]
    fn the_xctest_count_is_the_last_executed_line() {
        let out = "Test Suite 'A' passed\n\t Executed 1 test, with 0 failures (0 unexpected) in 0.1 (0.1) seconds\n\
            Test Suite 'All tests' failed\n\t Executed 31 tests, with 2 failures (0 unexpected) in 1.5 (1.5) seconds\n";
        assert_eq!(executed(out), Some((31, 2)));
        let skipped = "\t Executed 2 tests, with 1 test skipped and 0 failures (0 unexpected) in 0.1 (0.1) seconds\n\
            \t Executed 57 tests, with 1 test skipped and 1 failure (0 unexpected) in 1.5 (1.5) seconds\n";
        assert_eq!(executed(skipped), Some((57, 1)));
        assert_eq!(executed("Build complete!\n"), None);
    }

    #[test]
    fn a_required_swift_that_did_not_run_fails() {
        let static_only = || Outcome::StaticOnly("swift not found on PATH".into());
        assert!(matches!(required(static_only(), false), Outcome::StaticOnly(_)));
        assert!(matches!(required(static_only(), true), Outcome::Failed(why) if why.contains(REQUIRE_SWIFT)));
        assert!(matches!(required(Outcome::Passed, true), Outcome::Passed));
    }

    #[test]
    fn header_symbols_are_the_declared_uniffi_functions() {
        let header = "typedef void (*UniffiCallback)(uint64_t);\n#define UNIFFI_FFIDEF_X\n\
            uint64_t uniffi_a_fn_clone_x(uint64_t handle, RustCallStatus *_Nonnull out_status\n);\n\
            uint32_t ffi_a_uniffi_contract_version(void);\n// uniffi_in_comment(\n";
        let found: Vec<String> = header_symbols(header).into_iter().collect();
        assert_eq!(found, ["ffi_a_uniffi_contract_version", "uniffi_a_fn_clone_x"]);
    }
}
