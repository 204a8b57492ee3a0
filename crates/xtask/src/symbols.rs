//! Static checks of generated bindings, shared by the Swift and Dart layers.
//! They need no foreign toolchain: every native symbol a binding names must be
//! exported by the release cdylib (`nm`), and each language's generated public
//! API must match its committed `api.txt` (DESIGN.md "Layout": a change to the
//! surface is seen in review). [`scan`] finds declarations in generated
//! source without a parser.

mod scan;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::{env, fs};

use crate::{Outcome, bindings, on_path};

pub(crate) use scan::{Head, heads, strip, trailing_ident};

/// Set to `1` to rewrite the API snapshots instead of comparing them.
pub(crate) const UPDATE_SNAPSHOTS: &str = "AUTHSTATE_UPDATE_SNAPSHOTS";

/// A native symbol a generator references although the cdylib does not
/// export it: a documented known limitation, matched exactly.
pub(crate) struct KnownMissing {
    pub(crate) symbol: &'static str,
    pub(crate) why: &'static str,
}

/// `None` when every tool is on PATH; otherwise why the static checks cannot run.
pub(crate) fn missing_tools(tools: &[&str]) -> Option<String> {
    let missing: Vec<&str> = tools.iter().copied().filter(|tool| !on_path(tool)).collect();
    (!missing.is_empty())
        .then(|| format!("{} not found on PATH (needed by the static binding checks)", missing.join(", ")))
}

/// Generates the bindings once per `cargo xtask` process.
pub(crate) fn ensure_generated(root: &Path) -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| bindings::generate(root)).clone()
}

/// Reads a generated file, naming it on failure.
pub(crate) fn read(path: &Path) -> Result<String, String> {
    fs::read_to_string(path).map_err(|e| format!("{}: {e} (run cargo xtask bindings)", path.display()))
}

/// A named static check.
pub(crate) type Check<'a> = (&'a str, &'a dyn Fn() -> Result<(), String>);

/// Runs each named check, printing its result; fails with every failure.
pub(crate) fn run_checks(checks: &[Check<'_>]) -> Outcome {
    let mut failures = Vec::new();
    for (name, check) in checks {
        match check() {
            Ok(()) => println!("ok   {name}"),
            Err(why) => {
                println!("FAIL {name}: {why}");
                failures.push(format!("{name}: {why}"));
            }
        }
    }
    if failures.is_empty() { Outcome::Passed } else { Outcome::Failed(failures.join("; ")) }
}

/// Ends a layer: the static checks' outcome, then the toolchain's own tests
/// unless `missing` says why the toolchain cannot run. Without it, passed
/// static checks make the layer `StaticOnly`, never `Passed`.
pub(crate) fn then_toolchain(
    statics: Outcome,
    tool: &str,
    missing: Option<String>,
    test: impl FnOnce() -> Outcome,
) -> Outcome {
    match (statics, missing) {
        (failed @ Outcome::Failed(_), _) => failed,
        (Outcome::Passed | Outcome::StaticOnly(_), Some(why)) => {
            println!("SKIP {tool} test: {why} (static checks passed)");
            Outcome::StaticOnly(format!("static checks passed; {tool} test did not run: {why}"))
        }
        (Outcome::Skipped(statics), Some(why)) => Outcome::Skipped(format!("{statics}; {why}")),
        (statics, None) => {
            if let Outcome::Skipped(why) = statics {
                println!("SKIP static checks: {why}");
            }
            test()
        }
    }
}

/// The dynamic symbols `library` defines (`nm -D --defined-only`).
pub(crate) fn exported(library: &Path) -> Result<BTreeSet<String>, String> {
    let args: &[&str] = if cfg!(target_os = "macos") { &["-g", "-U"] } else { &["-D", "--defined-only"] };
    let out = Command::new("nm").args(args).arg(library).output().map_err(|e| format!("could not run nm: {e}"))?;
    if !out.status.success() {
        return Err(format!("nm {}: {}", library.display(), String::from_utf8_lossy(&out.stderr).trim()));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let names = text.lines().filter_map(|line| line.split_whitespace().nth(2));
    // Mach-O prefixes C symbols with `_`.
    let names = names.map(|n| if cfg!(target_os = "macos") { n.strip_prefix('_').unwrap_or(n) } else { n });
    Ok(names.map(str::to_owned).collect())
}

/// Checks that `exports` holds every symbol in `wanted` except the exact
/// `known` entries, which are printed as known limitations. A known entry that
/// resolves fails too, so the allow-list and the docs citing it stay true.
pub(crate) fn check_symbols(
    what: &str,
    wanted: &BTreeSet<String>,
    exports: &BTreeSet<String>,
    known: &[KnownMissing],
) -> Result<(), String> {
    if wanted.is_empty() {
        return Err(format!("found no native symbols in the {what}: the extractor no longer fits the generator"));
    }
    let missing: Vec<&str> = wanted.iter().map(String::as_str).filter(|s| !exports.contains(*s)).collect();
    println!(
        "{what}: {} native symbols referenced, {} exported, {} missing",
        wanted.len(),
        exports.len(),
        missing.len()
    );
    let unexpected: Vec<&str> = missing.iter().copied().filter(|s| !known.iter().any(|k| k.symbol == *s)).collect();
    let stale: Vec<&str> = known.iter().map(|k| k.symbol).filter(|s| !missing.contains(s)).collect();
    for entry in known.iter().filter(|k| missing.contains(&k.symbol)) {
        println!("KNOWN LIMITATION ({what}): `{}` is not exported: {}", entry.symbol, entry.why);
    }
    let mut problems = Vec::new();
    if !unexpected.is_empty() {
        problems.push(format!("not exported by the cdylib: {}", unexpected.join(", ")));
    }
    if !stale.is_empty() {
        problems.push(format!(
            "known-missing entries now resolve (remove them and their documented limitation): {}",
            stale.join(", ")
        ));
    }
    if problems.is_empty() { Ok(()) } else { Err(problems.join("; ")) }
}

/// Compares `listing` (the public API of `source`) with the snapshot at
/// `snapshot`, or rewrites it when [`UPDATE_SNAPSHOTS`] is `1`.
pub(crate) fn check_snapshot(root: &Path, snapshot: &str, source: &str, listing: &[String]) -> Result<(), String> {
    if listing.is_empty() {
        return Err(format!("found no public declarations in {source}: the extractor no longer fits the generator"));
    }
    let path = root.join(snapshot);
    if env::var(UPDATE_SNAPSHOTS).is_ok_and(|v| v == "1") {
        let header = format!(
            "# Public API of {source} (generated), as cargo xtask test extracts it.\n\
             # After a reviewed change: {UPDATE_SNAPSHOTS}=1 cargo xtask test\n"
        );
        fs::write(&path, header + &listing.join("\n") + "\n").map_err(|e| format!("{snapshot}: {e}"))?;
        println!("updated {snapshot} ({} declarations)", listing.len());
        return Ok(());
    }
    let text = fs::read_to_string(&path)
        .map_err(|e| format!("{snapshot}: {e}; create it with {UPDATE_SNAPSHOTS}=1 cargo xtask test"))?;
    let old: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    let new: Vec<&str> = listing.iter().map(String::as_str).collect();
    if old == new {
        println!("{snapshot}: {} public declarations match", new.len());
        return Ok(());
    }
    let (removed, added) = (minus(&old, &new), minus(&new, &old));
    println!("{snapshot} (-) against the generated API (+):");
    for (sign, lines, all) in [('-', &removed, &old), ('+', &added, &new)] {
        for &(i, line) in lines.iter().take(40) {
            let within = all[..i].iter().rev().find(|l| indent(l) < indent(line)).map(|l| l.trim());
            println!("{sign} {}{}", line.trim(), within.map(|w| format!("    (in {w})")).unwrap_or_default());
        }
    }
    if removed.is_empty() && added.is_empty() {
        println!("(the same declarations in another order)");
    }
    Err(format!(
        "{snapshot} differs from the generated API ({} removed, {} added; diff above). \
         If the change is intended: {UPDATE_SNAPSHOTS}=1 cargo xtask test",
        removed.len(),
        added.len()
    ))
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The lines of `a` (with their index) not matched one-for-one in `b`.
fn minus<'a>(a: &[&'a str], b: &[&str]) -> Vec<(usize, &'a str)> {
    let mut rest = b.to_vec();
    let mut out = Vec::new();
    for (i, line) in a.iter().enumerate() {
        match rest.iter().position(|r| r == line) {
            Some(at) => drop(rest.swap_remove(at)),
            None => out.push((i, *line)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_new_missing_symbol_fails_and_a_known_one_is_allowed_exactly() {
        let known = [KnownMissing { symbol: "bad_init", why: "generator bug" }];
        let exports = set(&["a", "b"]);
        assert!(check_symbols("t", &set(&["a", "bad_init"]), &exports, &known).is_ok());
        let err = check_symbols("t", &set(&["a", "bad_init", "new_one"]), &exports, &known).unwrap_err();
        assert!(err.contains("new_one") && !err.contains("bad_init,"), "{err}");
        let stale = check_symbols("t", &set(&["a"]), &exports, &known).unwrap_err();
        assert!(stale.contains("now resolve"), "{stale}");
        assert!(check_symbols("t", &set(&[]), &exports, &[]).is_err(), "nothing found must not pass");
    }

    #[test]
    fn a_missing_toolchain_is_static_only_never_passed() {
        let (tool, missing) = ("dart", || Some("dart not found on PATH".to_owned()));
        let static_only = then_toolchain(Outcome::Passed, tool, missing(), || unreachable!());
        assert!(matches!(static_only, Outcome::StaticOnly(why) if why.ends_with("dart not found on PATH")));
        let failed = then_toolchain(Outcome::Failed("x".into()), tool, missing(), || unreachable!());
        assert!(matches!(failed, Outcome::Failed(why) if why == "x"));
        let skipped = then_toolchain(Outcome::Skipped("no nm".into()), tool, missing(), || unreachable!());
        assert!(matches!(skipped, Outcome::Skipped(why) if why.starts_with("no nm; ")));
        assert!(matches!(then_toolchain(Outcome::Passed, tool, None, || Outcome::Passed), Outcome::Passed));
    }

    #[test]
    fn the_snapshot_diff_matches_lines_one_for_one() {
        assert_eq!(minus(&["a", "b", "b"], &["b", "c"]), [(0, "a"), (2, "b")]);
    }

    /// The real checks against `cargo xtask bindings` output: needs nm, gcc and
    /// the generated files, so it is opt-in.
    #[test]
    #[ignore = "needs cargo xtask bindings, nm and gcc: cargo test -p xtask -- --ignored"]
    fn generated_bindings_pass_the_static_checks() {
        let root = crate::workspace_root();
        for (name, outcome) in
            [("swift", crate::swift::static_checks(&root)), ("dart", crate::dart::static_checks(&root))]
        {
            if let Err(why) = outcome.into_result(name) {
                panic!("{why}");
            }
        }
    }
}
