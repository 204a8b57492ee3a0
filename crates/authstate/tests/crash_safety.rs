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

use authstate::model::OidcConfig;
use authstate::storage::{FileStore, KeyValueStore, MemoryStore, SecretStore, StorageError};
use authstate::{
    ExpiryReason, ManagerConfig, Provider, ProviderKind, Secret, ServerManager, SessionError, SessionState, TokenGrant,
};

const CHILD_DIR_ENV: &str = "AUTHSTATE_CRASH_CHILD_DIR";
const KILLS_ENV: &str = "AUTHSTATE_CRASH_KILLS";
const SEED_ENV: &str = "AUTHSTATE_CRASH_SEED";
const DIR_ENV: &str = "AUTHSTATE_CRASH_DIR";
const DEFAULT_KILLS: usize = 20;

/// Transitions the child persists.
const STEPS: u64 = 1_000;
/// The server whose session cycles through every transition.
const MAIN: &str = "main";
/// A server signed in once before the first step and never touched again: a
/// torn or lost write of the shared files would show here.
const BYSTANDER: &str = "bystander";
const SECRETS_FILE: &str = "secrets.json";
const KV_FILE: &str = "kv.json";
/// The child's stdout protocol.
const READY: &str = "READY";
const STEP: &str = "STEP ";
const DONE: &str = "DONE";
/// How long the parent waits for one line from the child before failing (a guard, not a delay).
const LINE_TIMEOUT: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------------------
// The transitions and the state each one leaves.
// ---------------------------------------------------------------------------

/// What step `i` does. The cycle covers every persisted transition of the
/// public API: sign-in from each state, expiry, and logout from each state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    SignIn,
    MarkExpired,
    Logout,
}

const CYCLE: [Action; 8] = [
    Action::SignIn,      // NoSession -> Active
    Action::SignIn,      // Active -> Active (new tokens)
    Action::MarkExpired, // Active -> Expired
    Action::SignIn,      // Expired -> Active
    Action::Logout,      // Active -> NoSession
    Action::SignIn,      // NoSession -> Active
    Action::MarkExpired, // Active -> Expired
    Action::Logout,      // Expired -> NoSession
];

fn action(step: u64) -> Action {
    CYCLE[(step % CYCLE.len() as u64) as usize]
}

/// A state, reduced to what the test can predict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expected {
    NoSession,
    /// Active with the tokens of sign-in step `n` (`a-n`, `r-n`).
    Active(u64),
    /// Expired (marked) with the tokens of sign-in step `n`.
    Expired(u64),
}

/// The state of `MAIN` after step `step` (`None`: before the first step).
fn expected_after(step: Option<u64>) -> Expected {
    let mut state = Expected::NoSession;
    let Some(last) = step else { return state };
    // The cycle returns to NoSession at every multiple of its length.
    let cycle = CYCLE.len() as u64;
    for i in (last - last % cycle)..=last {
        state = match (action(i), state) {
            (Action::SignIn, _) => Expected::Active(i),
            (Action::MarkExpired, Expected::Active(n)) => Expected::Expired(n),
            (Action::Logout, _) => Expected::NoSession,
            (a, s) => panic!("cycle bug: {a:?} in {s:?}"),
        };
    }
    state
}

fn observed(state: &SessionState) -> Result<Expected, String> {
    fn token_number(provider: ProviderKind, access: &Secret, refresh: Option<&Secret>) -> Result<u64, String> {
        if provider != ProviderKind::Oidc {
            return Err(format!("provider {provider:?}"));
        }
        let n: u64 = access
            .expose()
            .strip_prefix("a-")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("unexpected access token {:?}", access.expose()))?;
        let want = format!("r-{n}");
        match refresh {
            Some(r) if r.expose() == want => Ok(n),
            other => Err(format!("access a-{n} with refresh {:?}", other.map(Secret::expose))),
        }
    }
    match state {
        SessionState::NoSession => Ok(Expected::NoSession),
        SessionState::Active { provider, tokens } => {
            token_number(*provider, &tokens.access, tokens.refresh.as_ref()).map(Expected::Active)
        }
        SessionState::Expired { provider, tokens, reason: ExpiryReason::Marked } => {
            token_number(*provider, &tokens.access, tokens.refresh.as_ref()).map(Expected::Expired)
        }
        SessionState::Expired { reason, .. } => Err(format!("expired for an unexpected reason {reason:?}")),
    }
}

fn grant(access: &str, refresh: &str) -> TokenGrant {
    TokenGrant {
        access: Secret::new(access),
        refresh: Some(Secret::new(refresh)),
        id_token: None,
        expires_in: Some(3600),
    }
}

fn provider(name: &str) -> Provider {
    Provider::Oidc(OidcConfig {
        issuer: format!("https://{name}.example/"),
        client_id: format!("{name}-client"),
        redirect_uri: "com.example.app:/callback".into(),
        scopes: vec!["profile".into()],
    })
}

fn manager_over(secrets: Arc<dyn SecretStore>, kv: Arc<dyn KeyValueStore>) -> Result<ServerManager, String> {
    ServerManager::open(ManagerConfig::new(secrets, kv)).map_err(|e| format!("ServerManager::open failed: {e}"))
}

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
            assert!(
                outcome.status.success() || killed_by_sigkill(&outcome.status),
                "{}",
                outcome.describe()
            );
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

// ---------------------------------------------------------------------------
// A deterministic replay of every crash point inside one transition.
// ---------------------------------------------------------------------------

/// Store writes (set or delete, either store) allowed before the simulated
/// crash; every later write fails, as if the process had died.
#[derive(Clone, Default)]
struct CrashPoint(Arc<std::sync::atomic::AtomicI64>);

impl CrashPoint {
    fn allow(&self, writes: i64) {
        self.0.store(writes, std::sync::atomic::Ordering::SeqCst);
    }

    fn write(&self) -> Result<(), StorageError> {
        if self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst) > 0 {
            Ok(())
        } else {
            Err(StorageError::Unavailable("simulated crash".into()))
        }
    }
}

/// A memory store that stops writing at the crash point.
struct Crashing {
    inner: MemoryStore,
    crash: CrashPoint,
}

impl KeyValueStore for Crashing {
    fn get(&self, key: &str) -> Result<String, StorageError> {
        KeyValueStore::get(&self.inner, key)
    }
    fn set(&self, key: &str, value: &str) -> Result<(), StorageError> {
        self.crash.write()?;
        KeyValueStore::set(&self.inner, key, value)
    }
    fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.crash.write()?;
        KeyValueStore::delete(&self.inner, key)
    }
    fn keys(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.inner.keys(prefix)
    }
}

impl SecretStore for Crashing {
    fn get(&self, key: &str) -> Result<String, StorageError> {
        KeyValueStore::get(self, key)
    }
    fn set(&self, key: &str, value: &str) -> Result<(), StorageError> {
        KeyValueStore::set(self, key, value)
    }
    fn delete(&self, key: &str) -> Result<(), StorageError> {
        KeyValueStore::delete(self, key)
    }
}

/// Every transition of the cycle, interrupted after each of its store writes
/// (0, 1, 2, ...), must restore as the old or the new state. This replays
/// deterministically the crash windows the random kills above land in.
#[test]
fn every_crash_point_of_every_transition_restores_old_or_new_state() {
    let mut failures = Vec::new();
    for i in 0..CYCLE.len() as u64 {
        for allowed in 0..=3 {
            let (secrets, kv, crash) = (MemoryStore::new(), MemoryStore::new(), CrashPoint::default());
            crash.allow(i64::MAX);
            let manager = manager_over(
                Arc::new(Crashing { inner: secrets.clone(), crash: crash.clone() }),
                Arc::new(Crashing { inner: kv.clone(), crash: crash.clone() }),
            )
            .unwrap();
            let main = manager.add_server("https://main.example/", Some(MAIN), provider("main")).unwrap();
            for step in 0..=i {
                if step == i {
                    crash.allow(allowed);
                }
                let result = match action(step) {
                    Action::SignIn => {
                        main.sign_in(ProviderKind::Oidc, grant(&format!("a-{step}"), &format!("r-{step}")))
                    }
                    Action::MarkExpired => main.mark_expired(ExpiryReason::Marked),
                    Action::Logout => main.logout(),
                };
                assert!(step == i || result.is_ok(), "step {step}: {result:?}");
            }
            drop((main, manager));
            let old = expected_after(i.checked_sub(1));
            let new = expected_after(Some(i));
            let restarted = manager_over(Arc::new(secrets), Arc::new(kv)).unwrap();
            assert!(restarted.restore_report().corrupt.is_empty());
            let got = observed(&restarted.session(MAIN).expect("main restored").state()).unwrap();
            if got != old && got != new {
                failures.push(format!(
                    "step {i} ({:?}) interrupted after {allowed} store write(s): old {old:?}, new {new:?}, restored {got:?}",
                    action(i)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "restored states that are neither the old nor the new one:\n{}", failures.join("\n"));
}
