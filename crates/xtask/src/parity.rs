//! The parity layer (issue #15): one scenario suite (`tests/scenarios/`), run
//! by each language's own test layer through its public API, must give
//! byte-identical transcripts.
//!
//! Before the layers run, [`prepare`] writes the steps file every runner
//! reads (`target/parity/steps.tsv`, flattened by `bindings/python/parity.py`),
//! starts the scripted server and exports where both are
//! (`AUTHSTATE_SCENARIO_STEPS`, `AUTHSTATE_SCENARIO_SERVER`) and where
//! transcripts go (`AUTHSTATE_TRANSCRIPT_DIR`). Each runner checks its own
//! outcomes against the expected ones and writes `<language>.txt`. The
//! [`layer`] then compares them: Rust, Python, Kotlin and Swift must all be
//! present (for the layers this run selected) and identical; Dart's is
//! compared where `dart` ran.

use std::env;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use crate::Outcome;

/// The languages whose transcripts must agree, each produced by the layer of
/// the same name (`dart` is compared when present, never required).
const REQUIRED: [&str; 4] = ["rust", "python", "kotlin", "swift"];
const OPTIONAL: [&str; 1] = ["dart"];
/// Which of [`REQUIRED`] this run selected (set by [`prepare`]).
const REQUIRE_VAR: &str = "AUTHSTATE_PARITY_REQUIRED";
/// Why [`prepare`] failed, for the parity layer to report.
static UNPREPARED: OnceLock<String> = OnceLock::new();

/// The scripted server, stopped when dropped.
pub(crate) struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `target/parity` (under `$CARGO_TARGET_DIR` when set).
fn dir(root: &Path) -> PathBuf {
    env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from).join("parity")
}

/// Writes the steps file, starts the scripted server and exports their
/// places for every layer's runner. `layers` are the layers this run
/// selected. On failure nothing is exported: runners skip, and the parity
/// layer fails with the reason.
pub(crate) fn prepare(root: &Path, layers: &[&str]) -> Option<Server> {
    match start(root, layers) {
        Ok(server) => Some(server),
        Err(why) => {
            println!("scenarios: not prepared: {why}");
            let _ = UNPREPARED.set(why);
            None
        }
    }
}

fn start(root: &Path, layers: &[&str]) -> Result<Server, String> {
    let dir = dir(root);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let steps = dir.join("steps.tsv");
    let python = if crate::on_path("python3") { "python3" } else { "python" };
    let flattened = Command::new(python)
        .arg(root.join("bindings/python/parity.py"))
        .arg("flatten")
        .arg(&steps)
        .status()
        .map_err(|e| format!("could not run {python}: {e}"))?;
    if !flattened.success() {
        return Err(format!("bindings/python/parity.py flatten exited with {flattened}"));
    }
    let mut child = Command::new(python)
        .arg(root.join("tests/scenarios/script_server.py"))
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start the scripted server: {e}"))?;
    let mut ready = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = BufReader::new(out).read_line(&mut ready);
    }
    let server = Server(child);
    let port =
        ready.strip_prefix("READY ").map(str::trim).ok_or_else(|| format!("the scripted server said {ready:?}"))?;
    let required: Vec<&str> = REQUIRED.iter().copied().filter(|lang| layers.contains(lang)).collect();
    // SAFETY: set once, before any layer starts a thread or a process.
    unsafe {
        env::set_var("AUTHSTATE_SCENARIO_STEPS", &steps);
        env::set_var("AUTHSTATE_SCENARIO_SERVER", format!("http://127.0.0.1:{port}"));
        env::set_var("AUTHSTATE_TRANSCRIPT_DIR", &dir);
        env::set_var(REQUIRE_VAR, required.join(","));
    }
    println!("scenarios: {} steps in {}; scripted server on port {port}", lines(&steps), steps.display());
    Ok(server)
}

fn lines(path: &Path) -> usize {
    fs::read_to_string(path).map_or(0, |text| text.lines().filter(|l| !l.is_empty()).count())
}

/// The parity layer: the transcripts this run's language layers wrote are
/// byte-identical, one line per language with its digest.
pub(crate) fn layer(root: &Path) -> Outcome {
    let Some(required) = env::var(REQUIRE_VAR).ok() else {
        let why = UNPREPARED.get().map_or("cargo xtask test did not prepare them", String::as_str);
        return Outcome::Failed(format!("the scenario steps and server were not prepared: {why}"));
    };
    let required: Vec<&str> = required.split(',').filter(|s| !s.is_empty()).collect();
    let dir = dir(root);
    let mut transcripts = Vec::new();
    let mut missing = Vec::new();
    for lang in REQUIRED.iter().chain(OPTIONAL.iter()) {
        match fs::read(dir.join(format!("{lang}.txt"))) {
            Ok(text) => transcripts.push((*lang, text)),
            Err(_) if required.contains(lang) => missing.push(*lang),
            Err(_) => {}
        }
    }
    let Some((reference_lang, reference)) = transcripts.first().cloned() else {
        return Outcome::Failed(format!(
            "no transcript in {}: run the language layers with it (cargo xtask test rust python kotlin swift parity)",
            dir.display()
        ));
    };
    let mut differing = Vec::new();
    for (lang, text) in &transcripts {
        let scenarios = text.split(|b| *b == b'\n').filter(|l| l.starts_with(b"## ")).count();
        let verdict = if *text == reference {
            "identical".to_owned()
        } else {
            differing.push(*lang);
            format!("DIFFERS from {reference_lang} at line {}", first_difference(text, &reference))
        };
        println!("{lang:<8}  {:016x}  {scenarios} scenarios  {verdict}", fnv1a(text));
    }
    for lang in &missing {
        println!("{lang:<8}  (no transcript: its runner did not run)");
    }
    match (missing.is_empty(), differing.is_empty()) {
        (true, true) if transcripts.len() >= 2 => Outcome::Passed,
        (true, true) => Outcome::Failed(format!("only {reference_lang} ran the scenarios: nothing to compare")),
        _ => Outcome::Failed(format!(
            "{}{}",
            if missing.is_empty() { String::new() } else { format!("no transcript from {}; ", missing.join(", ")) },
            if differing.is_empty() { String::new() } else { format!("{} differ", differing.join(", ")) }
        )),
    }
}

/// The 1-based line where `a` and `b` first differ.
fn first_difference(a: &[u8], b: &[u8]) -> usize {
    let same = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    a[..same].iter().filter(|c| **c == b'\n').count() + 1
}

/// FNV-1a, 64 bits: a digest to print beside each transcript (std only).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_difference_is_counted_in_lines() {
        assert_eq!(first_difference(b"a\nb\nc\n", b"a\nb\nx\n"), 3);
        assert_eq!(first_difference(b"a\n", b"b\n"), 1);
    }

    #[test]
    fn the_digest_is_fnv1a() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
