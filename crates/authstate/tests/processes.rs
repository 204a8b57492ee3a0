//! Several real processes over one store directory (DESIGN.md invariant
//! 14). The test binary runs itself as the worker processes (`worker`, below,
//! does nothing in a normal run), each opening the directory as an app, an
//! extension or the CLI would.
//!
//! - Lost writes: 8 processes at once add servers, sign in, refresh, save
//!   drafts and sign out, 50 rounds; a reference model of what each wrote is
//!   compared with the directory: nothing lost, no save failed.
//! - The storm across processes: 8 processes × 125 callers on an expired
//!   access token, against the real oidc-provider (rotation with reuse
//!   detection) and the real simplejwt (rotation with blacklist), 20 runs
//!   each: one refresh request per run, no failed call, the grant alive.
//!   The wall time is printed beside the same storm in one process.
//! - A lease holder killed (SIGKILL) while the provider is paused: another
//!   process takes over, and no token is lost beyond the lost-response case.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use authstate::http::{HttpConfig, build_client};
use authstate::storage::FileStore;
use authstate::{
    Authenticator, Backends, DraftStore, ManagerConfig, ManualClock, Provider, ProviderKind, ServerId, ServerManager,
    SessionState, StateKind,
};
use common::{Fixed, grant, oidc};
use time::OffsetDateTime;

const ROLE: &str = "AUTHSTATE_TEST_WORKER";
const PROCESSES: usize = 8;
const SERVERS_PER_PROCESS: usize = 3;

// ---------------------------------------------------------------------------
// The worker side.
// ---------------------------------------------------------------------------

/// The entry point of the worker processes; a no-op in a normal test run.
#[test]
fn worker() {
    let Ok(role) = std::env::var(ROLE) else { return };
    let env = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("worker needs {name}"));
    let dir = PathBuf::from(env("DIR"));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    match role.as_str() {
        "writer" => rt.block_on(writer(&dir, env("INDEX").parse().unwrap(), Path::new(&env("GO")))),
        "storm" => rt.block_on(storm(
            &dir,
            &env("KIND"),
            env("CALLERS").parse().unwrap(),
            env("OFFSET").parse().unwrap(),
            Path::new(&env("GO")),
        )),
        other => panic!("unknown worker role {other}"),
    }
}

/// Opens the directory's stores, shared, as every process here does.
fn open_dir(dir: &Path, clock: ManualClock, refreshers: Arc<dyn authstate::RefresherFactory>) -> ServerManager {
    let secrets = Arc::new(FileStore::open(dir.join("secrets.json")).unwrap());
    let kv = Arc::new(FileStore::open(dir.join("state.json")).unwrap());
    let config = ManagerConfig::new(secrets, kv)
        .with_clock(Arc::new(clock))
        .with_refreshers(refreshers)
        .with_lock_dir(dir)
        .with_tokens_in_lock_dir(true);
    ServerManager::open(config).unwrap()
}

fn drafts(dir: &Path, clock: &ManualClock) -> DraftStore {
    DraftStore::new(Arc::new(FileStore::open(dir.join("drafts.json")).unwrap()), Arc::new(clock.clone()))
}

fn wait_for(go: &Path) {
    while !go.exists() {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A refresher that rotates deterministically: `a<n>` → `a<n>+`.
struct Rotating;

#[async_trait::async_trait]
impl authstate::Refresher for Rotating {
    async fn refresh(
        &self,
        _: &authstate::ServerInfo,
        tokens: &authstate::Tokens,
    ) -> Result<authstate::TokenGrant, authstate::RefreshError> {
        let access = format!("{}+", tokens.access.expose());
        let refresh = tokens.refresh.as_ref().map(|r| format!("{}+", r.expose()));
        Ok(grant(&access, refresh.as_deref(), 3600))
    }
}

/// What one writer does to its own servers; the parent checks the outcome.
async fn writer(dir: &Path, index: usize, go: &Path) {
    let clock = ManualClock::new(OffsetDateTime::now_utc());
    let m = open_dir(dir, clock.clone(), Arc::new(Fixed(Arc::new(Rotating))));
    let drafts = drafts(dir, &clock);
    wait_for(go);
    for k in 0..SERVERS_PER_PROCESS {
        let alias = format!("w{index}k{k}");
        let s = m.add_server(&format!("https://{alias}.example"), Some(&alias), oidc()).unwrap();
        s.sign_in(ProviderKind::Oidc, grant(&format!("a-{alias}"), Some(&format!("r-{alias}")), 3600)).unwrap();
        s.refresh().await.unwrap();
        drafts.save(&s.info().id, "room", &format!("draft of {alias}")).unwrap();
        if k % 2 == 1 {
            s.logout().unwrap();
        }
    }
    println!("WORKER done");
}

/// `callers` tasks ask for a token at once when `go` appears; prints the outcome.
async fn storm(dir: &Path, kind: &str, callers: usize, offset_secs: i64, go: &Path) {
    let clock = ManualClock::new(OffsetDateTime::now_utc() + time::Duration::seconds(offset_secs));
    let http = build_client(HttpConfig::default().trusting(common::oidc_peer::TLS_CERT_PEM)).unwrap();
    let backends = Arc::new(Backends::new(http, Arc::new(clock.clone())));
    let m = open_dir(dir, clock, backends);
    let session = m.session("api").unwrap();
    let (release, gate) = tokio::sync::watch::channel(false);
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let (session, mut gate) = (Arc::clone(&session), gate.clone());
            tokio::spawn(async move {
                let _ = gate.wait_for(|open| *open).await;
                session.fresh_access_token().await
            })
        })
        .collect();
    println!("WORKER ready {kind}");
    tokio::task::spawn_blocking({
        let go = go.to_owned();
        move || wait_for(&go)
    })
    .await
    .unwrap();
    let started = Instant::now();
    let _ = release.send(true);
    let mut tokens = std::collections::BTreeSet::new();
    let mut failed = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(token) => {
                tokens.insert(token.expose().to_owned());
            }
            Err(e) => {
                failed += 1;
                println!("WORKER error {e:?}");
            }
        }
    }
    let elapsed = started.elapsed().as_micros();
    println!("WORKER result {failed} {elapsed} {}", tokens.into_iter().collect::<Vec<_>>().join(","));
}

// ---------------------------------------------------------------------------
// The parent side.
// ---------------------------------------------------------------------------

fn spawn_worker(role: &str, vars: &[(&str, String)]) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "worker", "--nocapture", "--test-threads", "1"])
        .env(ROLE, role)
        .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// The worker's `WORKER …` lines, once it exits; panics if it failed.
fn finish(child: Child) -> Vec<String> {
    let output = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "worker failed ({}):\n{text}", output.status);
    text.lines().filter_map(worker_line).collect()
}

/// The part of `line` after `WORKER ` (libtest may print `test worker ... ` before it).
fn worker_line(line: &str) -> Option<String> {
    line.find("WORKER ").map(|at| line[at + "WORKER ".len()..].trim_end().to_owned())
}

/// Waits until `child` prints a `WORKER <word>` line; returns the reader for the rest.
fn await_line(child: &mut Child, word: &str) -> BufReader<std::process::ChildStdout> {
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(reader.read_line(&mut line).unwrap() > 0, "worker exited before {word}");
        if worker_line(&line).is_some_and(|l| l.starts_with(word)) {
            return reader;
        }
    }
}

#[test]
fn eight_processes_writing_at_once_lose_nothing_over_fifty_rounds() {
    let rounds: usize = std::env::var("PROCESS_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    let started = Instant::now();
    for round in 0..rounds {
        let dir = tempfile::tempdir().unwrap();
        let go = dir.path().join("go");
        let workers: Vec<_> = (0..PROCESSES)
            .map(|i| {
                spawn_worker(
                    "writer",
                    &[
                        ("DIR", dir.path().display().to_string()),
                        ("INDEX", i.to_string()),
                        ("GO", go.display().to_string()),
                    ],
                )
            })
            .collect();
        std::fs::write(&go, b"").unwrap();
        for w in workers {
            assert_eq!(finish(w), ["done"], "round {round}: a save failed");
        }
        // The reference model: what each process wrote.
        let clock = ManualClock::new(OffsetDateTime::now_utc());
        let m = open_dir(dir.path(), clock.clone(), Arc::new(authstate::refresh::NoRefresh));
        assert_eq!(m.servers().len(), PROCESSES * SERVERS_PER_PROCESS, "round {round}: servers lost");
        let drafts = drafts(dir.path(), &clock);
        for i in 0..PROCESSES {
            for k in 0..SERVERS_PER_PROCESS {
                let alias = format!("w{i}k{k}");
                let s = m.session(&alias).unwrap_or_else(|| panic!("round {round}: {alias} lost"));
                match (k % 2, s.state()) {
                    (1, SessionState::NoSession) => {}
                    (0, SessionState::Active { tokens, .. }) => {
                        assert_eq!(tokens.access.expose(), format!("a-{alias}+"), "round {round}: {alias}");
                        assert_eq!(tokens.refresh.unwrap().expose(), format!("r-{alias}+"), "round {round}: {alias}");
                    }
                    (_, other) => panic!("round {round}: {alias} is {other:?}"),
                }
                let id = ServerId::parse(&format!("https://{alias}.example")).unwrap();
                assert_eq!(drafts.peek(&id, "room").unwrap(), Some(format!("draft of {alias}")), "round {round}");
            }
        }
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "round {round}: temporary files left: {leftovers:?}");
    }
    println!("{rounds} rounds of {PROCESSES} processes: 0 lost writes, 0 failed saves, {:?}", started.elapsed());
}

/// Signs the directory's `api` server in through the real peer.
async fn sign_in_dir(dir: &Path, provider: Provider, base: &str, login: impl AsyncFnOnce(&Authenticator)) {
    let clock = ManualClock::new(OffsetDateTime::now_utc());
    let http = build_client(HttpConfig::default().trusting(common::oidc_peer::TLS_CERT_PEM)).unwrap();
    let backends = Arc::new(Backends::new(http, Arc::new(clock.clone())));
    let m = open_dir(dir, clock, backends.clone());
    m.add_server(base, Some("api"), provider).unwrap();
    login(&Authenticator::new(m, backends)).await;
}

/// One storm: `processes` × `callers` on the expired token. Returns the
/// slowest process's wall time and the token they all got.
fn storm_run(dir: &Path, kind: &str, processes: usize, callers: usize, offset: i64) -> (Duration, String) {
    let go = dir.join(format!("go-{offset}-{processes}"));
    let vars = |_: usize| {
        vec![
            ("DIR", dir.display().to_string()),
            ("KIND", kind.to_owned()),
            ("CALLERS", callers.to_string()),
            ("OFFSET", offset.to_string()),
            ("GO", go.display().to_string()),
        ]
    };
    let mut workers: Vec<_> = (0..processes).map(|i| spawn_worker("storm", &vars(i))).collect();
    let readers: Vec<_> = workers.iter_mut().map(|w| await_line(w, "ready")).collect();
    std::fs::write(&go, b"").unwrap();
    let mut slowest = Duration::ZERO;
    let mut all_tokens = std::collections::BTreeSet::new();
    for (mut worker, mut reader) in workers.into_iter().zip(readers) {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert!(!line.contains("WORKER error"), "{kind}: {line}");
        let status = worker.wait().unwrap();
        assert!(status.success(), "{kind}: storm worker failed: {status}");
        let line = worker_line(&line).expect("a result line");
        let fields: Vec<&str> = line.strip_prefix("result ").expect("a result line").splitn(3, ' ').collect();
        assert_eq!(fields[0], "0", "{kind}: failed calls in one process");
        slowest = slowest.max(Duration::from_micros(fields[1].parse().unwrap()));
        all_tokens.extend(fields[2].split(',').map(str::to_owned));
    }
    assert_eq!(all_tokens.len(), 1, "{kind}: every caller of every process gets the one refreshed token");
    (slowest, all_tokens.into_iter().next().unwrap_or_default())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_across_processes_refreshes_once_at_the_real_oidc_provider() {
    let Some(peer) = common::oidc_peer::OidcPeer::start(common::oidc_peer::PeerOptions {
        access_token_ttl_secs: 3600,
        ..Default::default()
    })
    .await
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let provider = Provider::Oidc(authstate::model::OidcConfig {
        issuer: peer.issuer(),
        client_id: peer.client_id().to_owned(),
        redirect_uri: peer.redirect_uri(),
        scopes: vec![],
    });
    sign_in_dir(dir.path(), provider, &peer.issuer(), async |auth| {
        let url = auth.begin_login("api", None).await.unwrap();
        let callback = common::oidc_peer::drive_login(url.as_str(), "alice").await;
        auth.complete_login(&callback).await.unwrap();
    })
    .await;
    let runs: usize = std::env::var("STORM_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let (mut multi, mut single) = (Vec::new(), Vec::new());
    for run in 0..runs {
        for (processes, callers, times) in [(PROCESSES, 125, &mut multi), (1, PROCESSES * 125, &mut single)] {
            peer.reset_counts().await;
            let offset = 7200 * (2 * run as i64 + i64::from(processes == 1) + 1);
            let path = dir.path().to_owned();
            let (took, token) =
                tokio::task::spawn_blocking(move || storm_run(&path, "oidc", processes, callers, offset))
                    .await
                    .unwrap();
            assert_eq!(peer.counts().await.token, 1, "run {run}: one refresh request for {processes} processes");
            assert!(peer.userinfo(&token).await.status().is_success(), "run {run}: the grant is alive");
            times.push(took);
        }
    }
    let (multi, single) = (median(multi), median(single));
    println!(
        "oidc storm, {PROCESSES} processes x 125 callers: {multi:?}; one process x {} callers: {single:?}; ratio {:.2} (median of {runs})",
        PROCESSES * 125,
        multi.as_secs_f64() / single.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_across_processes_refreshes_once_at_the_real_simplejwt() {
    let Some(peer) = common::django_peer::DjangoPeer::start(common::django_peer::DjangoOptions::default()).await else {
        return;
    };
    peer.create_user("alice", common::devices::PASSWORD).await;
    let dir = tempfile::tempdir().unwrap();
    sign_in_dir(dir.path(), common::devices::simplejwt(), &peer.base_url(), async |auth| {
        let password = authstate::Secret::new(common::devices::PASSWORD);
        auth.sign_in_with_password("api", "alice", &password, None).await.unwrap();
    })
    .await;
    let runs: usize = std::env::var("STORM_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let (mut multi, mut single) = (Vec::new(), Vec::new());
    for run in 0..runs {
        for (processes, callers, times) in [(PROCESSES, 125, &mut multi), (1, PROCESSES * 125, &mut single)] {
            peer.reset_counts().await;
            let offset = 7200 * (2 * run as i64 + i64::from(processes == 1) + 1);
            let path = dir.path().to_owned();
            let (took, token) =
                tokio::task::spawn_blocking(move || storm_run(&path, "simplejwt", processes, callers, offset))
                    .await
                    .unwrap();
            assert_eq!(peer.counts().await.jwt_refresh, 1, "run {run}: one refresh request for {processes} processes");
            let me =
                common::django_peer::http_client().get(peer.url("api/me/")).bearer_auth(&token).send().await.unwrap();
            assert!(me.status().is_success(), "run {run}: the new access token works");
            times.push(took);
        }
    }
    let (multi, single) = (median(multi), median(single));
    println!(
        "simplejwt storm, {PROCESSES} processes x 125 callers: {multi:?}; one process x {} callers: {single:?}; ratio {:.2} (median of {runs})",
        PROCESSES * 125,
        multi.as_secs_f64() / single.as_secs_f64()
    );
    // The grant is alive: the stored refresh token still refreshes.
    let clock = ManualClock::new(OffsetDateTime::now_utc());
    let http = build_client(HttpConfig::default()).unwrap();
    let m = open_dir(dir.path(), clock.clone(), Arc::new(Backends::new(http, Arc::new(clock))));
    m.session("api").unwrap().refresh().await.unwrap();
    assert_eq!(m.session("api").unwrap().state_kind(), StateKind::Active);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_holder_killed_mid_refresh_is_taken_over_and_named_honestly() {
    let Some(peer) = common::django_peer::DjangoPeer::start(common::django_peer::DjangoOptions::default()).await else {
        return;
    };
    peer.create_user("alice", common::devices::PASSWORD).await;
    let dir = tempfile::tempdir().unwrap();
    sign_in_dir(dir.path(), common::devices::simplejwt(), &peer.base_url(), async |auth| {
        let password = authstate::Secret::new(common::devices::PASSWORD);
        auth.sign_in_with_password("api", "alice", &password, None).await.unwrap();
    })
    .await;
    let vars = |go: &Path| {
        vec![
            ("DIR", dir.path().display().to_string()),
            ("KIND", "simplejwt".to_owned()),
            ("CALLERS", "1".to_owned()),
            ("OFFSET", "7200".to_owned()),
            ("GO", go.display().to_string()),
        ]
    };
    peer.pause();
    // Process A takes the lease and presents the refresh token to the paused server.
    let go_a = dir.path().join("go-a");
    let mut a = spawn_worker("storm", &vars(&go_a));
    let _a_out = await_line(&mut a, "ready");
    std::fs::write(&go_a, b"").unwrap();
    let lease = dir.path().join("api.lease");
    let held_by_a = Instant::now();
    loop {
        let file =
            std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&lease).unwrap();
        if file.try_lock().is_err() {
            break;
        }
        drop(file);
        assert!(held_by_a.elapsed() < Duration::from_secs(30), "A never took the lease");
        std::thread::sleep(Duration::from_millis(2));
    }
    // Process B waits for the lease; A is killed.
    let go_b = dir.path().join("go-b");
    let mut b = spawn_worker("storm", &vars(&go_b));
    let mut b_out = await_line(&mut b, "ready");
    std::fs::write(&go_b, b"").unwrap();
    std::thread::sleep(Duration::from_millis(200)); // B is now waiting on the lease
    a.kill().unwrap();
    a.wait().unwrap();
    let killed = Instant::now();
    peer.resume();
    let mut outcome = String::new();
    loop {
        let mut line = String::new();
        assert!(b_out.read_line(&mut line).unwrap() > 0, "B exited without a result");
        if let Some(l) = worker_line(&line).filter(|l| l.starts_with("result") || l.starts_with("error")) {
            outcome.push_str(&l);
            outcome.push('\n');
            if l.starts_with("result") {
                break;
            }
        }
    }
    assert!(b.wait().unwrap().success());
    let took = killed.elapsed();
    println!("B finished {took:?} after A's kill: {}", outcome.trim());
    assert!(took < Duration::from_secs(30), "B took over within the bounded wait");
    let honest = outcome.starts_with("result 0 ") || outcome.contains("RefreshInterrupted");
    assert!(honest, "B either refreshed or says the refresh was interrupted, never 'rejected': {outcome}");
    assert!(!outcome.contains("RefreshRejected"), "{outcome}");
}
