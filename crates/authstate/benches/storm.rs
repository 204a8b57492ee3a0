//! The refresh storm against a real OpenID provider: 1,000 callers ask for a
//! token the instant it expires; the wall time until all have one, as a ratio
//! to one refresh round-trip. Target: ≤ 1.5.
//!
//! Run: `cargo bench -p authstate --bench storm` (needs node; prints SKIP without it).

#[path = "../tests/common/oidc_peer/mod.rs"]
#[allow(dead_code, unused_imports)]
mod oidc_peer;
#[path = "../tests/common/peer_process.rs"]
mod peer_process;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration as StdDuration, Instant};

use authstate::{ManualClock, ServerSession};
use oidc_peer::{OidcPeer, PeerOptions};
use time::{Duration, OffsetDateTime};

/// Callers per storm (`STORM_CALLERS` overrides).
const CALLERS: usize = 1000;
const ROUNDS: usize = 30;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let callers: usize = std::env::var("STORM_CALLERS").ok().and_then(|v| v.parse().ok()).unwrap_or(CALLERS);
    let Some(peer) = OidcPeer::start(PeerOptions { access_token_ttl_secs: 3600, ..PeerOptions::default() }).await
    else {
        println!("storm: SKIP (no node)");
        return;
    };
    let clock = ManualClock::new(OffsetDateTime::now_utc());
    let client = peer.client(Arc::new(clock.clone()), Duration::seconds(300));
    client.login(None).await;
    let session = Arc::clone(&client.session);

    // Warm up: connections, discovery cache.
    for _ in 0..5 {
        session.refresh().await.expect("refresh");
    }
    let mut single = Vec::new();
    let mut storm = Vec::new();
    let mut spawned = Vec::new();
    for _ in 0..ROUNDS {
        single.push(at_expiry(&peer, &session, &clock, 1, Start::Parked).await);
        storm.push(at_expiry(&peer, &session, &clock, callers, Start::Parked).await);
        spawned.push(at_expiry(&peer, &session, &clock, callers, Start::SpawnedAtExpiry).await);
    }
    if std::env::var_os("STORM_SAMPLES").is_some() {
        println!("single: {single:?}\nstorm: {storm:?}\nspawned: {spawned:?}");
    }
    let single = median(&mut single);
    let storm = median(&mut storm);
    let spawned = median(&mut spawned);
    println!("storm: one caller at expiry, one refresh round-trip (median of {ROUNDS}): {:.2} ms", ms(single));
    println!("storm: {callers} callers at expiry (median of {ROUNDS}): {:.2} ms", ms(storm));
    println!("storm: ratio {:.2} (target <= 1.5)", storm.as_secs_f64() / single.as_secs_f64());
    println!(
        "storm: with the {callers} tasks spawned at expiry: {:.2} ms, ratio {:.2}",
        ms(spawned),
        spawned.as_secs_f64() / single.as_secs_f64()
    );
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Start {
    /// The callers exist before the expiry (an app's screens and requests):
    /// spawned and parked first, released the instant the token expires.
    Parked,
    /// The callers are spawned at the expiry (spawn cost included).
    SpawnedAtExpiry,
}

/// Expires the token, lets `n` callers ask for one, and returns the wall time
/// until every caller has the refreshed token. Asserts one token request.
async fn at_expiry(
    peer: &OidcPeer,
    session: &Arc<ServerSession>,
    clock: &ManualClock,
    n: usize,
    start: Start,
) -> StdDuration {
    let (release, gate) = tokio::sync::watch::channel(start == Start::SpawnedAtExpiry);
    let parked = Arc::new(AtomicUsize::new(0));
    let spawn_all = || -> Vec<_> {
        (0..n)
            .map(|_| {
                let session = Arc::clone(session);
                let mut gate = gate.clone();
                let parked = Arc::clone(&parked);
                tokio::spawn(async move {
                    parked.fetch_add(1, Ordering::SeqCst);
                    let _ = gate.wait_for(|open| *open).await;
                    session.fresh_access_token().await
                })
            })
            .collect()
    };
    let mut callers = Vec::new();
    if start == Start::Parked {
        callers = spawn_all();
        while parked.load(Ordering::SeqCst) < n {
            tokio::task::yield_now().await;
        }
    }
    let before = peer.counts().await.token;
    clock.advance(Duration::hours(2)); // every token expired
    let started = Instant::now();
    if start == Start::Parked {
        let _ = release.send(true);
    } else {
        callers = spawn_all();
    }
    for caller in callers {
        caller.await.expect("task").expect("token");
    }
    let elapsed = started.elapsed();
    assert_eq!(peer.counts().await.token - before, 1, "one token request per storm");
    elapsed
}

fn median(samples: &mut [StdDuration]) -> StdDuration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: StdDuration) -> f64 {
    d.as_secs_f64() * 1000.0
}
