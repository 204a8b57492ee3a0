//! The refresh storm against a real OpenID provider: 1,000 callers ask for a
//! token the instant it expires; the wall time until all have one, as a ratio
//! to one refresh round-trip. Target: ≤ 1.5.
//!
//! Run: `cargo bench -p authstate --bench storm` (needs node; prints SKIP without it).

#[path = "../tests/common/oidc_peer.rs"]
#[allow(dead_code)]
mod oidc_peer;

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use authstate::http::{HttpConfig, build_client};
use authstate::model::OidcConfig;
use authstate::refresh::BackoffPolicy;
use authstate::storage::MemoryStore;
use authstate::{Authenticator, Backends, ManagerConfig, ManualClock, Provider, ServerManager};
use oidc_peer::{OidcPeer, PeerOptions, drive_login};
use time::{Duration, OffsetDateTime};

const CALLERS: usize = 1000;
const ROUNDS: usize = 30;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let Some(peer) = OidcPeer::start(PeerOptions { access_token_ttl_secs: 3600, ..PeerOptions::default() }).await
    else {
        println!("storm: SKIP (no node)");
        return;
    };
    let clock = ManualClock::new(OffsetDateTime::now_utc());
    let http = build_client(HttpConfig::default()).expect("http client");
    let backends = Arc::new(Backends::new(http, Arc::new(clock.clone())));
    let config = ManagerConfig::new(Arc::new(MemoryStore::new()), Arc::new(MemoryStore::new()))
        .with_clock(Arc::new(clock.clone()))
        .with_backoff(BackoffPolicy { initial: Duration::ZERO, max: Duration::ZERO })
        .with_refreshers(backends.clone());
    let manager = ServerManager::open(config).expect("manager");
    let provider = Provider::Oidc(OidcConfig {
        issuer: peer.issuer(),
        client_id: peer.client_id().to_owned(),
        redirect_uri: peer.redirect_uri(),
        scopes: vec![],
    });
    let session = manager.add_server(&peer.issuer(), Some("idp"), provider).expect("server");
    let auth = Authenticator::new(manager, backends);
    let url = auth.begin_login("idp", None).await.expect("begin");
    auth.complete_login(&drive_login(url.as_str(), "alice").await).await.expect("login");

    // Warm up: connections, discovery cache.
    for _ in 0..5 {
        session.refresh().await.expect("refresh");
    }
    let mut single = Vec::new();
    let mut storm = Vec::new();
    for _ in 0..ROUNDS {
        let started = Instant::now();
        session.refresh().await.expect("refresh");
        single.push(started.elapsed());

        clock.advance(Duration::hours(2)); // every token expired
        let before = peer.counts().await.token;
        let started = Instant::now();
        let callers: Vec<_> = (0..CALLERS)
            .map(|_| {
                let session = Arc::clone(&session);
                tokio::spawn(async move { session.fresh_access_token().await })
            })
            .collect();
        for caller in callers {
            caller.await.expect("task").expect("token");
        }
        storm.push(started.elapsed());
        assert_eq!(peer.counts().await.token - before, 1, "one token request per storm");
    }
    let single = median(&mut single);
    let storm = median(&mut storm);
    println!("storm: one refresh round-trip (median of {ROUNDS}): {:.2} ms", ms(single));
    println!("storm: {CALLERS} callers at expiry (median of {ROUNDS}): {:.2} ms", ms(storm));
    println!("storm: ratio {:.2} (target <= 1.5)", storm.as_secs_f64() / single.as_secs_f64());
}

fn median(samples: &mut [StdDuration]) -> StdDuration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: StdDuration) -> f64 {
    d.as_secs_f64() * 1000.0
}
