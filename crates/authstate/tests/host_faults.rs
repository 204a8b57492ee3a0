//! The host cannot break the core (DESIGN.md invariant 13): every host
//! callback the core calls — the secret store, the value store, a session
//! observer — in turn throws, panics, returns garbage or blocks, at every
//! call site of a sign-in, a refresh, a probe, a sign-out and a restore,
//! once or from then on. After each case, with the host healed:
//! - no session and no token is lost, and nothing reverts to older tokens
//!   (the server's rotation model rejects any older refresh token);
//! - no call waited more than 5 s beyond the host's own delay;
//! - the next operation succeeds, and a restart finds what memory holds.
//!
//! Each case runs on its own thread and runtime, so blocking cases run side
//! by side. The log sink is a host callback of the FFI; its faults are
//! tested there (`crates/authstate-ffi/tests/host_faults.rs`).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use authstate::storage::FileStore;
use authstate::{
    Change, ManagerConfig, ManualClock, ProbeResult, ProviderKind, RefreshError, Refresher, Revocation, ServerInfo,
    ServerManager, SessionObserver, SessionState, StateKind, TokenGrant, Tokens,
};
use common::faulty::{Fault, Faulty, Op};
use common::{Fixed, grant, oidc};
use parking_lot::Mutex;

/// How long a blocking host call blocks (the 5 s; `HOST_FAULT_BLOCK_MS` shortens it locally).
fn block() -> Duration {
    let ms = std::env::var("HOST_FAULT_BLOCK_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(5_000);
    Duration::from_millis(ms)
}

/// A server that rotates refresh tokens and rejects any but the current one
/// (reuse detection), so a client that falls back to an older token is caught.
#[derive(Default)]
struct Server {
    current_refresh: Mutex<String>,
    issued: AtomicUsize,
    revoked: AtomicUsize,
}

#[async_trait]
impl Refresher for Server {
    async fn refresh(&self, _: &ServerInfo, tokens: &Tokens) -> Result<TokenGrant, RefreshError> {
        let mut current = self.current_refresh.lock();
        let presented = tokens.refresh.as_ref().map(|r| r.expose().to_owned()).unwrap_or_default();
        if presented != *current {
            return Err(RefreshError::Rejected { detail: format!("reuse of {presented}") });
        }
        let n = self.issued.fetch_add(1, Ordering::SeqCst) + 2;
        *current = format!("r{n}");
        Ok(grant(&format!("a{n}"), Some(&current), 3600))
    }

    async fn revoke(&self, _: &ServerInfo, _: &Tokens) -> Result<Revocation, RefreshError> {
        self.revoked.fetch_add(1, Ordering::SeqCst);
        Ok(Revocation::Revoked)
    }

    /// "Stale": the probe expires the session, which must then be written.
    async fn probe(&self, _: &ServerInfo, _: &Tokens) -> Result<ProbeResult, RefreshError> {
        Ok(ProbeResult::Stale)
    }
}

/// A session observer that misbehaves on cue.
#[derive(Default)]
struct Observer {
    calls: AtomicUsize,
    fault_at: Mutex<Option<(usize, Fault)>>,
}

impl SessionObserver for Observer {
    fn on_change(&self, _: &Change) {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if let Some((at, fault)) = *self.fault_at.lock()
            && at == n
        {
            match fault {
                Fault::Block(d) => std::thread::sleep(d),
                _ => panic!("injected: host observer panicked"),
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    SignIn,
    Refresh,
    Probe,
    SignOut,
    Restore,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Secrets,
    Values,
    Observer,
}

#[derive(Debug, Clone, Copy)]
struct Case {
    operation: Operation,
    target: Target,
    fault: Fault,
    /// The call (of the target, during the operation) that misbehaves first.
    site: usize,
    /// Whether every later call misbehaves too, until healed.
    persistent: bool,
    /// How the stores are set up.
    setup: Setup,
}

/// How the host's stores are set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Setup {
    /// Memory stores, one process.
    Memory,
    /// Memory stores shared through a lock directory.
    SharedMemory,
    /// File stores in the lock directory, whose journal may hold tokens.
    SharedFiles,
}

struct World {
    secrets: Faulty,
    kv: Faulty,
    clock: ManualClock,
    server: Arc<Server>,
    observer: Arc<Observer>,
    dir: Option<tempfile::TempDir>,
    setup: Setup,
}

impl World {
    fn new(setup: Setup) -> Self {
        let server = Arc::new(Server::default());
        *server.current_refresh.lock() = "r1".into();
        let dir = (setup != Setup::Memory).then(|| tempfile::tempdir().unwrap());
        let (secrets, kv) = match (&dir, setup) {
            (Some(dir), Setup::SharedFiles) => (
                Faulty::over(Arc::new(FileStore::open(dir.path().join("secrets.json")).unwrap())),
                Faulty::over(Arc::new(FileStore::open(dir.path().join("state.json")).unwrap())),
            ),
            _ => (Faulty::new(), Faulty::new()),
        };
        Self { secrets, kv, clock: ManualClock::at_epoch(), server, observer: Arc::default(), dir, setup }
    }

    fn open(&self) -> Result<ServerManager, authstate::ManagerError> {
        let mut config = ManagerConfig::new(Arc::new(self.secrets.clone()), Arc::new(self.kv.clone()))
            .with_clock(Arc::new(self.clock.clone()))
            .with_refreshers(Arc::new(Fixed(self.server.clone())));
        if let Some(dir) = &self.dir {
            config = config.with_lock_dir(dir.path()).with_tokens_in_lock_dir(self.setup == Setup::SharedFiles);
        }
        ServerManager::open(config)
    }

    fn target_calls(&self, target: Target) -> usize {
        match target {
            Target::Secrets => self.secrets.calls(),
            Target::Values => self.kv.calls(),
            Target::Observer => self.observer.calls.load(Ordering::SeqCst),
        }
    }

    fn arm(&self, case: &Case, base: usize) {
        let times = if case.persistent { usize::MAX } else { 1 };
        let ops = [Op::Get, Op::Set, Op::Delete, Op::Keys];
        match case.target {
            Target::Secrets => self.secrets.fail(case.fault, &ops, case.site, times),
            Target::Values => self.kv.fail(case.fault, &ops, case.site, times),
            Target::Observer => *self.observer.fault_at.lock() = Some((base + case.site, case.fault)),
        }
    }

    fn heal(&self) {
        self.secrets.heal();
        self.kv.heal();
        *self.observer.fault_at.lock() = None;
    }
}

fn refresh_of(state: &SessionState) -> Option<String> {
    state.tokens().and_then(|t| t.refresh.as_ref().map(|r| r.expose().to_owned()))
}

/// Sets up the world for `operation`, runs it (armed with `case` when
/// given), and checks the invariants. Returns the number of calls the
/// target saw during the operation (what a healthy run counts the sites by).
async fn run(operation: Operation, target: Target, case: Option<Case>, setup: Setup) -> usize {
    let w = World::new(setup);
    let m = w.open().unwrap();
    let _sub = m.subscribe(w.observer.clone() as Arc<dyn SessionObserver>);
    let s = m.add_server("https://api.example", Some("api"), oidc()).unwrap();
    if operation != Operation::SignIn {
        s.sign_in(ProviderKind::Oidc, grant("a1", Some("r1"), 60)).unwrap();
    }
    if operation == Operation::Restore {
        // More to restore: an expired session and a signed-out server beside it.
        let notes = m.add_server("https://notes.example", Some("notes"), oidc()).unwrap();
        notes.sign_in(ProviderKind::Oidc, grant("n1", Some("nr1"), 3600)).unwrap();
        notes.mark_expired(authstate::ExpiryReason::Marked).unwrap();
        m.add_server("https://old.example", Some("old"), oidc()).unwrap();
    }
    if operation == Operation::Refresh {
        w.clock.advance(time::Duration::seconds(120));
    }
    let before = w.target_calls(target);
    if let Some(case) = &case {
        w.arm(case, before);
    }
    let started = Instant::now();
    let mut reopened = None;
    match operation {
        Operation::SignIn => {
            let _ = s.sign_in(ProviderKind::Oidc, grant("a1", Some("r1"), 3600));
            assert!(s.is_authenticated(), "{case:?}: a sign-in that happened stands");
        }
        Operation::Refresh => {
            let _ = s.fresh_access_token().await;
        }
        Operation::Probe => {
            let _ = s.probe().await;
        }
        Operation::SignOut => {
            let _ = s.sign_out().await;
            assert_eq!(s.state(), SessionState::NoSession, "{case:?}: signed out in memory");
            assert_eq!(w.server.revoked.load(Ordering::SeqCst), 1, "{case:?}: the server was asked to revoke");
        }
        Operation::Restore => {
            // Another "launch" over the same stores: an error or the session as it was, never less.
            match w.open() {
                Ok(again) => {
                    let corrupt = !again.restore_report().corrupt.is_empty();
                    let expected = [
                        ("api", Some("r1"), StateKind::Active),
                        ("notes", Some("nr1"), StateKind::Expired),
                        ("old", None, StateKind::NoSession),
                    ];
                    for (alias, refresh, kind) in expected {
                        let state = again.session(alias).map(|s| s.state()).unwrap_or(SessionState::NoSession);
                        assert!(
                            corrupt || (refresh_of(&state).as_deref() == refresh && state.kind() == kind),
                            "{case:?}: {alias} restored as {state:?} without reporting why"
                        );
                    }
                    reopened = Some(again);
                }
                Err(e) => assert!(matches!(e, authstate::ManagerError::Storage(_)), "{case:?}: {e}"),
            }
        }
    }
    let took = started.elapsed();
    let calls = w.target_calls(target) - before;
    let allowance = match case.map(|c| c.fault) {
        Some(Fault::Block(d)) => d * u32::try_from(calls).unwrap_or(u32::MAX).max(1) + Duration::from_secs(5),
        _ => Duration::from_secs(5),
    };
    assert!(took <= allowance, "{case:?}: took {took:?}");
    drop(reopened);

    // The host heals; the next operation succeeds and nothing was lost.
    w.heal();
    m.catch_up();
    let server_refresh = w.server.current_refresh.lock().clone();
    let held = s.state();
    match operation {
        Operation::SignOut => assert_eq!(held, SessionState::NoSession),
        _ => {
            assert_eq!(
                refresh_of(&held).as_deref(),
                Some(server_refresh.as_str()),
                "{case:?}: holds the server's current refresh token"
            );
            let token = s.fresh_access_token().await;
            assert!(token.is_ok(), "{case:?}: next call after healing: {token:?}");
        }
    }
    assert!(!s.persistence_pending(), "{case:?}: saved once the host healed");
    // A restart finds exactly what memory holds.
    let again = w.open().unwrap();
    let restored = again.session("api").unwrap().state();
    assert_eq!(refresh_of(&restored), refresh_of(&s.state()), "{case:?}: restart");
    assert_eq!(restored.kind(), s.state().kind(), "{case:?}: restart");
    calls
}

fn cases() -> Vec<Case> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut cases = Vec::new();
    for setup in [Setup::Memory, Setup::SharedMemory, Setup::SharedFiles] {
        for operation in
            [Operation::SignIn, Operation::Refresh, Operation::Probe, Operation::SignOut, Operation::Restore]
        {
            for target in [Target::Secrets, Target::Values, Target::Observer] {
                let sites = rt.block_on(run(operation, target, None, setup));
                println!("{setup:?} {operation:?} {target:?}: {sites} call sites");
                let faults: &[Fault] = match target {
                    Target::Observer => &[Fault::Panic, Fault::Block(block())],
                    _ => &[Fault::Throw, Fault::Panic, Fault::Garbage, Fault::Block(block())],
                };
                for site in 0..sites {
                    for &fault in faults {
                        for persistent in [false, true] {
                            if persistent && matches!(fault, Fault::Block(_)) {
                                continue; // blocking every call is covered site by site
                            }
                            cases.push(Case { operation, target, fault, site, persistent, setup });
                        }
                    }
                }
            }
        }
    }
    cases
}

#[test]
fn every_host_callback_misbehaving_at_every_call_site_loses_nothing() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let injected = info.payload().downcast_ref::<&str>().is_some_and(|m| m.starts_with("injected"));
        if !injected {
            previous(info);
        }
    }));
    let mut cases = cases();
    // Blocking cases together, so that their waits overlap.
    cases.sort_by_key(|c| matches!(c.fault, Fault::Block(_)));
    let started = Instant::now();
    let failures = Mutex::new(Vec::new());
    // Side by side, so that blocking cases do not add up.
    for batch in cases.chunks(64) {
        std::thread::scope(|scope| {
            for case in batch {
                let failures = &failures;
                scope.spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        rt.block_on(run(case.operation, case.target, Some(*case), case.setup))
                    }));
                    if let Err(panic) = outcome {
                        let message = panic
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                            .unwrap_or_default();
                        failures.lock().push(format!("{case:?}: {message}"));
                    }
                });
            }
        });
    }
    let failures = failures.into_inner();
    println!("host fault cases: {} ({} failed) in {:?}", cases.len(), failures.len(), started.elapsed());
    assert!(cases.len() >= 300, "expected hundreds of cases, got {}", cases.len());
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}
