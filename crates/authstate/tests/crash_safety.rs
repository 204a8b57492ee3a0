//! Crash safety of persisted sessions (DESIGN.md invariants 10 and 12).
//!
//! A child process (this test binary, re-executed to run only `child_writer`)
//! persists 1,000 transitions through a `ServerManager` over two `FileStore`s
//! and prints the index of every transition once it is persisted. The parent
//! kills it with SIGKILL at random moments and checks that the stores still
//! load, without a corrupt file, holding exactly the state after the last
//! printed transition or the one after it: never a corrupt or a mixed state.
//!
//! Environment:
//! - `AUTHSTATE_CRASH_KILLS`: how many killed runs (default 20).
//! - `AUTHSTATE_CRASH_SEED`: the RNG seed, to replay a run (default: from the clock; printed).
//! - `AUTHSTATE_CRASH_DIR`: where the runs' stores go (default: `/dev/shm` when
//!   it exists, else the system temp dir). SIGKILL ends the process, not the
//!   kernel: its page cache survives, so a memory file system shows the same
//!   crash states as a disk, minus the fsync latency that would make 1,000
//!   transitions take seconds.
//! - `AUTHSTATE_CRASH_CHILD_DIR`: set by the parent for the child only.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use authstate::storage::FileStore;
use authstate::{ExpiryReason, ProviderKind, Secret, SessionError, SessionState};

const CHILD_DIR_ENV: &str = "AUTHSTATE_CRASH_CHILD_DIR";
const KILLS_ENV: &str = "AUTHSTATE_CRASH_KILLS";
const SEED_ENV: &str = "AUTHSTATE_CRASH_SEED";
const DIR_ENV: &str = "AUTHSTATE_CRASH_DIR";
const DEFAULT_KILLS: usize = 20;

const SECRETS_FILE: &str = "secrets.json";
const KV_FILE: &str = "kv.json";
/// The child's stdout protocol.
const READY: &str = "READY";
const STEP: &str = "STEP ";
const DONE: &str = "DONE";
/// How long the parent waits for one line from the child before failing (a guard, not a delay).
const LINE_TIMEOUT: Duration = Duration::from_secs(120);

#[path = "crash/scenario.rs"]
mod scenario;
use scenario::*;

// ---------------------------------------------------------------------------
// The child.
// ---------------------------------------------------------------------------

/// Runs only when re-executed by `sigkill_while_persisting_leaves_old_or_new_state`.
#[test]
#[ignore = "child process of the crash-safety test; does nothing when run directly"]
fn child_writer() {
    let Some(dir) = std::env::var_os(CHILD_DIR_ENV) else { return };
    let dir = PathBuf::from(dir);
    let secrets = Arc::new(FileStore::open(dir.join(SECRETS_FILE)).expect("open secrets"));
    let kv = Arc::new(FileStore::open(dir.join(KV_FILE)).expect("open kv"));
    let manager = manager_over(secrets, kv).expect("open manager");
    let bystander = manager.add_server("https://bystander.example/", Some(BYSTANDER), provider("bystander")).unwrap();
    bystander.sign_in(ProviderKind::Oidc, grant("b-0", "rb-0")).expect("bystander sign-in persisted");
    let main = manager.add_server("https://main.example/", Some(MAIN), provider("main")).unwrap();

    let mut out = std::io::stdout().lock();
    // A fresh line: libtest may have printed "test child_writer ... " without one.
    writeln!(out, "\n{READY}").unwrap();
    out.flush().unwrap();
    for i in 0..STEPS {
        let result: Result<(), SessionError> = match action(i) {
            Action::SignIn => main.sign_in(ProviderKind::Oidc, grant(&format!("a-{i}"), &format!("r-{i}"))),
            Action::MarkExpired => main.mark_expired(ExpiryReason::Marked),
            Action::Logout => main.logout(),
        };
        result.unwrap_or_else(|e| panic!("step {i} ({:?}) not persisted: {e}", action(i)));
        writeln!(out, "{STEP}{i}").unwrap();
        out.flush().unwrap();
    }
    writeln!(out, "{DONE}").unwrap();
    out.flush().unwrap();
}

// ---------------------------------------------------------------------------
// The parent.
// ---------------------------------------------------------------------------

/// xorshift64*: enough randomness for kill delays, std only, replayable by seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..bound` (bound > 0).
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

fn env_u64(name: &str) -> Option<u64> {
    let raw = std::env::var(name).ok()?;
    Some(raw.trim().parse().unwrap_or_else(|_| panic!("{name}={raw:?} is not a number")))
}

/// A running child and the threads draining its output.
struct Running {
    child: Child,
    spawned_at: Instant,
    lines: Receiver<(Instant, String)>,
    stdout: JoinHandle<()>,
    stderr: JoinHandle<String>,
}

/// What a child run printed before it ended.
#[derive(Debug)]
struct Outcome {
    status: ExitStatus,
    ready: bool,
    last_step: Option<u64>,
    done: bool,
    stderr: String,
}

impl Outcome {
    fn describe(&self) -> String {
        format!(
            "status {:?}, ready {}, last printed step {:?}, done {}\n--- child stderr ---\n{}",
            self.status, self.ready, self.last_step, self.done, self.stderr
        )
    }
}

fn spawn_child(dir: &Path) -> Running {
    let exe = std::env::current_exe().expect("current test binary");
    let spawned_at = Instant::now();
    let mut child = Command::new(exe)
        .args(["--exact", "child_writer", "--nocapture", "--include-ignored", "--test-threads=1"])
        .env(CHILD_DIR_ENV, dir)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn child test process");
    let (tx, lines) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    let stdout = thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send((Instant::now(), line)).is_err() {
                break;
            }
        }
    });
    let mut err = child.stderr.take().unwrap();
    let stderr = thread::spawn(move || {
        let mut text = String::new();
        let _ = err.read_to_string(&mut text);
        text
    });
    Running { child, spawned_at, lines, stdout, stderr }
}

/// Reads protocol lines, updating `outcome`; returns the time the matching line arrived.
fn wait_for(running: &Running, outcome: &mut Outcome, want: &str) -> Option<Instant> {
    loop {
        match running.lines.recv_timeout(LINE_TIMEOUT) {
            Ok((at, line)) => {
                let hit = line == want;
                record(outcome, &line);
                if hit {
                    return Some(at);
                }
            }
            Err(RecvTimeoutError::Timeout) => panic!("child printed no line for {LINE_TIMEOUT:?} waiting for {want}"),
            Err(RecvTimeoutError::Disconnected) => return None,
        }
    }
}

fn record(outcome: &mut Outcome, line: &str) {
    if line == READY {
        outcome.ready = true;
    } else if line == DONE {
        outcome.done = true;
    } else if let Some(n) = line.strip_prefix(STEP) {
        let n: u64 = n.parse().unwrap_or_else(|_| panic!("bad step line {line:?}"));
        assert_eq!(n, outcome.last_step.map_or(0, |p| p + 1), "steps printed out of order");
        outcome.last_step = Some(n);
    }
}

/// Kills the child (if `kill`), reaps it and drains everything it printed.
fn finish(mut running: Running, mut outcome: Outcome, kill: bool) -> Outcome {
    if kill {
        // SIGKILL on unix. If the child already exited this is harmless.
        let _ = running.child.kill();
    }
    outcome.status = running.child.wait().expect("reap child");
    running.stdout.join().expect("stdout reader");
    while let Ok((_, line)) = running.lines.try_recv() {
        record(&mut outcome, &line);
    }
    outcome.stderr = running.stderr.join().expect("stderr reader");
    outcome
}

fn empty_outcome() -> Outcome {
    Outcome { status: ExitStatus::default(), ready: false, last_step: None, done: false, stderr: String::new() }
}

/// Names of `*.tmp-*` files left in `dir`.
fn temp_leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read run dir")
        .map(|e| e.expect("dir entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect()
}

/// Opens what the child left and checks it against the steps it reported.
/// Returns the restored state of `MAIN`.
fn verify_store(dir: &Path, outcome: &Outcome) -> Expected {
    let context = || format!("run dir {}: {}", dir.display(), outcome.describe());

    // A leftover temporary file, even a torn one, must never be read.
    std::fs::write(dir.join(format!("{KV_FILE}.tmp-4294967295")), b"{\"format\":1,\"entr").unwrap();
    std::fs::write(dir.join(format!("{SECRETS_FILE}.tmp-4294967295")), b"").unwrap();

    let secrets = FileStore::open(dir.join(SECRETS_FILE)).unwrap_or_else(|e| panic!("secrets: {e}; {}", context()));
    let kv = FileStore::open(dir.join(KV_FILE)).unwrap_or_else(|e| panic!("kv: {e}; {}", context()));
    assert_eq!(secrets.moved_aside(), None, "secrets file was corrupt; {}", context());
    assert_eq!(kv.moved_aside(), None, "kv file was corrupt; {}", context());
    let manager = manager_over(Arc::new(secrets), Arc::new(kv)).unwrap_or_else(|e| panic!("{e}; {}", context()));
    let report = manager.restore_report();
    assert!(report.corrupt.is_empty(), "corrupt entries {:?}; {}", report.corrupt, context());

    if !outcome.ready {
        // Killed during setup: whatever exists must still be a valid prefix of it.
        for s in manager.sessions() {
            let ok = match (s.info().alias.as_str(), s.state()) {
                (_, SessionState::NoSession) => true,
                (BYSTANDER, SessionState::Active { tokens, .. }) => tokens.access.expose() == "b-0",
                _ => false,
            };
            assert!(ok, "{} restored as {:?} during setup; {}", s.info().alias, s.state_kind(), context());
        }
        return manager.session(MAIN).map_or(Expected::NoSession, |s| observed(&s.state()).unwrap());
    }

    assert_eq!(report.restored, 2, "servers restored; {}", context());
    let bystander = manager.session(BYSTANDER).expect("bystander restored").state();
    match &bystander {
        SessionState::Active { tokens, .. }
            if tokens.access.expose() == "b-0" && tokens.refresh.as_ref().map(Secret::expose) == Some("rb-0") => {}
        other => panic!("bystander restored as {:?}, not Active with b-0; {}", observed(other), context()),
    }

    let state = manager.session(MAIN).expect("main restored").state();
    let got = observed(&state).unwrap_or_else(|e| panic!("main restored in an invalid state: {e}; {}", context()));
    let old = expected_after(outcome.last_step);
    let next_step = outcome.last_step.map_or(0, |p| p + 1);
    let new = (next_step < STEPS).then(|| expected_after(Some(next_step)));
    assert!(
        got == old || Some(got) == new,
        "main restored as {got:?}; expected the state after the last printed step ({old:?}) or after step {next_step} \
         ({:?}: {new:?}); {}",
        action(next_step),
        context()
    );
    got
}

#[cfg(unix)]
fn killed_by_sigkill(status: &ExitStatus) -> bool {
    use std::os::unix::process::ExitStatusExt;
    status.signal() == Some(9)
}

#[cfg(not(unix))]
fn killed_by_sigkill(status: &ExitStatus) -> bool {
    !status.success()
}

#[test]
fn sigkill_while_persisting_leaves_old_or_new_state() {
    let kills = env_u64(KILLS_ENV).map_or(DEFAULT_KILLS, |k| k as usize);
    let seed = env_u64(SEED_ENV).unwrap_or_else(|| {
        let t = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        t.as_secs() ^ (u64::from(t.subsec_nanos()) << 20) ^ u64::from(std::process::id())
    });
    let mut rng = Rng::new(seed);
    let base = std::env::var_os(DIR_ENV).map(PathBuf::from).unwrap_or_else(|| {
        let shm = Path::new("/dev/shm");
        if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() }
    });
    let root = tempfile::Builder::new().prefix("authstate-crash-").tempdir_in(&base).expect("temp dir");
    eprintln!("crash_safety: {kills} kills, {SEED_ENV}={seed}, {DIR_ENV}={}", base.display());
    let started = Instant::now();

    // One clean run to completion: checks the end state and measures how long
    // setup and the 1,000 transitions take, so the kills can land anywhere.
    let dir = root.path().join("clean");
    std::fs::create_dir(&dir).unwrap();
    let running = spawn_child(&dir);
    let mut outcome = empty_outcome();
    let ready_at = wait_for(&running, &mut outcome, READY);
    let done_at = wait_for(&running, &mut outcome, DONE);
    let spawned_at = running.spawned_at;
    let outcome = finish(running, outcome, false);
    let (Some(ready_at), Some(done_at)) = (ready_at, done_at) else {
        panic!("clean run did not finish: {}", outcome.describe())
    };
    assert!(outcome.status.success(), "clean run failed: {}", outcome.describe());
    assert_eq!(outcome.last_step, Some(STEPS - 1), "{}", outcome.describe());
    assert_eq!(verify_store(&dir, &outcome), expected_after(Some(STEPS - 1)));
    let startup = ready_at - spawned_at;
    let runtime = done_at - ready_at;
    eprintln!("crash_safety: clean run: start-up and setup {startup:?}, {STEPS} transitions {runtime:?}");

    // Kill at random moments. Timing alone would bunch the kills wherever the
    // child happens to run slowly (its speed varies with load), so each kill
    // picks a uniformly random point of the run (before the first step or
    // after step t), waits until the child reports reaching it, then waits a
    // further random 0..2 mean step durations. One run in ten is killed at a
    // random moment of its start-up and setup instead.
    let step_us = (runtime.as_micros() as u64 / STEPS).max(1);
    let mut landed = Vec::new();
    let mut killed = 0;
    let mut leftovers = 0;
    for k in 0..kills {
        let dir = root.path().join(format!("kill-{k}"));
        std::fs::create_dir(&dir).unwrap();
        let running = spawn_child(&dir);
        let mut outcome = empty_outcome();
        let delay = if k % 10 == 9 {
            Duration::from_micros(rng.below(startup.as_micros() as u64 + 1))
        } else {
            let target = rng.below(STEPS + 1);
            let line = if target == 0 { READY.to_owned() } else { format!("{STEP}{}", target - 1) };
            if wait_for(&running, &mut outcome, &line).is_none() {
                panic!("child ended before {line}: {}", finish(running, outcome, false).describe());
            }
            Duration::from_micros(rng.below(2 * step_us + 1))
        };
        // The random delay *is* the experiment: where in the run the kill lands.
        thread::sleep(delay);
        let outcome = finish(running, outcome, true);
        if outcome.done {
            // The kill can land after the last step but before the process exits.
            assert!(outcome.status.success() || killed_by_sigkill(&outcome.status), "{}", outcome.describe());
        } else {
            assert!(killed_by_sigkill(&outcome.status), "child did not die by SIGKILL: {}", outcome.describe());
            killed += 1;
        }
        leftovers += temp_leftovers(&dir).len();
        let got = verify_store(&dir, &outcome);
        let at = if outcome.ready { format!("{:?}", outcome.last_step) } else { "setup".into() };
        landed.push(format!("{at}->{got:?}"));
    }
    eprintln!(
        "crash_safety: {killed}/{kills} runs killed before the end, in {:?} (temp files left by killed children: \
         {leftovers}); last printed step -> restored: {}",
        started.elapsed(),
        landed.join(", ")
    );
}
