//! Core benchmarks for authstate; results and targets are in BENCHMARKS.md.
//!
//! 1. The token fast path (`valid_access_token`, `fresh_access_token` polled
//!    once, `state`) on a valid session: target ≤ 100 ns.
//! 2. One state transition including persist, revision bump and one observer,
//!    with in-memory stores and with the atomic JSON file store.
//! 3. Cold start: opening the file stores and restoring 1,000 servers: target ≤ 50 ms.
//!
//! Run with `cargo bench -p authstate --bench core`.

use std::future::Future;
use std::hint::black_box;
use std::path::Path;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use authstate::model::OidcConfig;
use authstate::storage::{FileStore, KeyValueStore, MemoryStore, SecretStore};
use authstate::{
    Change, Clock, ExpiryReason, ManagerConfig, ManualClock, Provider, ProviderKind, Secret, ServerManager,
    ServerSession, StateKind, Subscription, SystemClock, TokenGrant,
};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

fn oidc() -> Provider {
    Provider::Oidc(OidcConfig {
        issuer: "https://id.bench.example".into(),
        client_id: "bench-client".into(),
        redirect_uri: "com.example.bench:/callback".into(),
        scopes: vec!["profile".into()],
    })
}

/// A realistic-size grant (JWT-ish access token, opaque refresh token), valid for an hour.
fn grant(n: u64) -> TokenGrant {
    TokenGrant {
        access: Secret::new(format!("eyJhbGciOiJSUzI1NiJ9.{}.{n:016x}", "a".repeat(600))),
        refresh: Some(Secret::new(format!("refresh-{n:032x}"))),
        id_token: None,
        expires_in: Some(3600),
    }
}

fn manager_with(secrets: Arc<dyn SecretStore>, kv: Arc<dyn KeyValueStore>) -> ServerManager {
    ServerManager::open(ManagerConfig::new(secrets, kv)).expect("open manager")
}

fn memory_manager() -> ServerManager {
    manager_with(Arc::new(MemoryStore::new()), Arc::new(MemoryStore::new()))
}

fn file_manager(dir: &Path) -> ServerManager {
    manager_with(
        Arc::new(FileStore::open(dir.join("secrets.json")).expect("open secrets")),
        Arc::new(FileStore::open(dir.join("kv.json")).expect("open kv")),
    )
}

/// One signed-in server, plus one no-op observer (as an app would have).
fn signed_in(manager: &ServerManager) -> (Arc<ServerSession>, Subscription) {
    let session = manager.add_server("https://bench.example", Some("bench"), oidc()).expect("add server");
    session.sign_in(ProviderKind::Oidc, grant(0)).expect("sign in");
    let subscription = manager.subscribe(Arc::new(|_c: &Change| {}));
    (session, subscription)
}

fn token_fast_path(c: &mut Criterion) {
    let manager = memory_manager();
    let (session, _subscription) = signed_in(&manager);
    let mut group = c.benchmark_group("token_fast_path");

    group.bench_function("valid_access_token", |b| {
        b.iter(|| black_box(&session).valid_access_token().expect("token is valid"))
    });

    // `fresh_access_token` completes on its first poll when the token is valid:
    // poll it once with a no-op waker, no runtime involved.
    let mut cx = Context::from_waker(Waker::noop());
    group.bench_function("fresh_access_token_first_poll", |b| {
        b.iter(|| {
            let session = black_box(&session);
            let fut = pin!(session.fresh_access_token());
            match fut.poll(&mut cx) {
                Poll::Ready(Ok(token)) => token,
                Poll::Ready(Err(e)) => panic!("fresh_access_token failed: {e}"),
                Poll::Pending => panic!("fresh_access_token did not complete on the first poll"),
            }
        })
    });

    group.bench_function("state", |b| b.iter(|| black_box(&session).state()));
    group.bench_function("state_kind", |b| b.iter(|| black_box(&session).state_kind()));
    group.finish();
}

/// Where the fast path's time goes: the clock read, the token copy, and the
/// fast path with a clock that does not read the system time.
fn fast_path_breakdown(c: &mut Criterion) {
    let mut group = c.benchmark_group("fast_path_breakdown");
    group.bench_function("std_system_time_now", |b| b.iter(std::time::SystemTime::now));
    group.bench_function("system_clock_now", |b| b.iter(|| black_box(&SystemClock).now()));
    let long = grant(0).access;
    group.bench_function("secret_clone_640b", |b| b.iter(|| black_box(&long).clone()));
    let short = Secret::new("a".repeat(40));
    group.bench_function("secret_clone_40b", |b| b.iter(|| black_box(&short).clone()));

    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(time::OffsetDateTime::now_utc()));
    let manager = ServerManager::open(
        ManagerConfig::new(Arc::new(MemoryStore::new()), Arc::new(MemoryStore::new())).with_clock(clock),
    )
    .expect("open manager");
    let (session, _subscription) = signed_in(&manager);
    group.bench_function("valid_access_token_manual_clock", |b| {
        b.iter(|| black_box(&session).valid_access_token().expect("token is valid"))
    });
    group.finish();
}

/// Each iteration is one transition: `Active -> Expired` (mark_expired) and
/// `Expired -> Active` (sign_in with new tokens) alternately, so the figure is
/// the mean of the two. `rotate` is `sign_in` over an active session (new tokens).
fn bench_transitions(c: &mut Criterion, name: &str, session: &Arc<ServerSession>) {
    let mut group = c.benchmark_group(format!("transition/{name}"));
    if name == "file" {
        group.sample_size(20).measurement_time(Duration::from_secs(6));
    }
    let mut n = 1_u64;
    group.bench_function("expire_or_sign_in", |b| {
        b.iter(|| {
            if session.state_kind() == StateKind::Active {
                session.mark_expired(ExpiryReason::Marked).expect("mark expired");
            } else {
                n += 1;
                session.sign_in(ProviderKind::Oidc, grant(n)).expect("sign in");
            }
        })
    });
    if session.state_kind() != StateKind::Active {
        n += 1;
        session.sign_in(ProviderKind::Oidc, grant(n)).expect("sign in");
    }
    group.bench_function("sign_in_rotate", |b| {
        b.iter(|| {
            n += 1;
            session.sign_in(ProviderKind::Oidc, grant(n)).expect("sign in");
        })
    });
    group.finish();
}

fn transitions(c: &mut Criterion) {
    let calls = Arc::new(std::sync::atomic::AtomicU64::new(0));

    let manager = memory_manager();
    let (session, _subscription) = signed_in(&manager);
    let counter = Arc::clone(&calls);
    let _counting = manager.subscribe(Arc::new(move |_c: &Change| {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }));
    bench_transitions(c, "memory", &session);
    // One transition outside the measurement, so the check below holds even
    // when a name filter skipped the timed closures.
    session.sign_in(ProviderKind::Oidc, grant(u64::MAX)).expect("sign in");

    let dir = tempfile::tempdir().expect("tempdir");
    let manager = file_manager(dir.path());
    let (session, _subscription) = signed_in(&manager);
    bench_transitions(c, "file", &session);
    // Every transition really was persisted: a reopened manager sees the last state.
    let reopened = file_manager(dir.path());
    assert_eq!(reopened.session("bench").expect("restored").state(), session.state());
    assert!(calls.load(std::sync::atomic::Ordering::Relaxed) > 0, "observer was never notified");
}

const RESTORE_SERVERS: usize = 1_000;

/// Writes 1,000 servers (half signed in, a quarter of all expired) into two
/// file stores in `dir`. The writes are staged in /dev/shm when it exists
/// (each FileStore write fsyncs: 2,750 of them on disk only slow the setup),
/// then the files are copied into `dir`, which the benchmark reads.
fn populate(dir: &Path) {
    let shm = Path::new("/dev/shm");
    let staging =
        if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir_in(dir) }.expect("staging dir");
    let started = Instant::now();
    {
        let manager = file_manager(staging.path());
        for i in 0..RESTORE_SERVERS {
            let session = manager
                .add_server(&format!("https://s{i}.example"), Some(&format!("s{i}")), oidc())
                .expect("add server");
            if i % 2 == 0 {
                session.sign_in(ProviderKind::Oidc, grant(i as u64)).expect("sign in");
            }
            if i % 4 == 0 {
                session.mark_expired(ExpiryReason::Marked).expect("mark expired");
            }
        }
    }
    for name in ["secrets.json", "kv.json"] {
        std::fs::copy(staging.path().join(name), dir.join(name)).expect("copy store");
    }
    eprintln!(
        "restore setup: {RESTORE_SERVERS} servers written in {:.1?} (secrets {} KiB, kv {} KiB)",
        started.elapsed(),
        std::fs::metadata(dir.join("secrets.json")).expect("secrets").len() / 1024,
        std::fs::metadata(dir.join("kv.json")).expect("kv").len() / 1024,
    );
}

/// The cold start: open both file stores (read + parse) and restore every server.
fn cold_start(secrets: &Path, kv: &Path) -> ServerManager {
    manager_with(
        Arc::new(FileStore::open(secrets).expect("open secrets")),
        Arc::new(FileStore::open(kv).expect("open kv")),
    )
}

fn restore(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    populate(dir.path());
    let (secrets, kv) = (dir.path().join("secrets.json"), dir.path().join("kv.json"));

    let manager = cold_start(&secrets, &kv);
    assert_eq!(manager.restore_report().restored, RESTORE_SERVERS);
    assert!(manager.restore_report().corrupt.is_empty());
    let kinds = manager.sessions().iter().map(|s| s.state_kind()).collect::<Vec<_>>();
    let count = |k: StateKind| kinds.iter().filter(|&&x| x == k).count();
    assert_eq!(
        (count(StateKind::Active), count(StateKind::Expired), count(StateKind::NoSession)),
        (RESTORE_SERVERS / 4, RESTORE_SERVERS / 4, RESTORE_SERVERS / 2)
    );
    drop(manager);

    let mut group = c.benchmark_group("restore");
    group.sample_size(20).measurement_time(Duration::from_secs(8));
    // Dropping the manager is not part of a cold start: keep it out of the timing.
    group.bench_function("open_1000_servers_file_store", |b| {
        b.iter_with_large_drop(|| cold_start(black_box(&secrets), black_box(&kv)))
    });
    // For scale: the same restore from already-parsed in-memory stores.
    let (mem_secrets, mem_kv) = (MemoryStore::new(), MemoryStore::new());
    {
        let src_secrets = FileStore::open(&secrets).expect("open secrets");
        let src_kv = FileStore::open(&kv).expect("open kv");
        for key in KeyValueStore::keys(&src_secrets, "").expect("keys") {
            let value = KeyValueStore::get(&src_secrets, &key).expect("get");
            SecretStore::set(&mem_secrets, &key, &value).expect("set");
        }
        for key in src_kv.keys("").expect("keys") {
            KeyValueStore::set(&mem_kv, &key, &KeyValueStore::get(&src_kv, &key).expect("get")).expect("set");
        }
    }
    group.bench_function("open_1000_servers_memory_store", |b| {
        b.iter_batched(
            || (Arc::new(mem_secrets.clone()), Arc::new(mem_kv.clone())),
            |(s, k)| manager_with(s, k),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = token_fast_path, fast_path_breakdown, transitions, restore
}
criterion_main!(benches);
