//! The cost `AuthedClient` adds to a request: a GET through `AuthedClient`
//! against the same GET through plain reqwest (same client, same bearer
//! header), on a minimal loopback HTTP/1.1 keep-alive server written here (a
//! fixed 200; no request matching, so the server costs as little as possible
//! and the ratio shows the client side). The session is `Active` with a token
//! valid for a day, so every `AuthedClient` request takes the token fast path.
//!
//! After criterion, an interleaved timed loop (alternating plain and authed
//! rounds, median of the per-round ratios) prints the overhead ratio
//! AuthedClient / plain, together with the ratio of criterion's own means.
//! Target: ratio ≤ 1.05.
//!
//! Run with `cargo bench -p authstate --bench http`.

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use authstate::http::{AuthedClient, HttpConfig, build_client};
use authstate::model::OidcConfig;
use authstate::storage::MemoryStore;
use authstate::{ManagerConfig, Provider, ProviderKind, Secret, ServerManager, TokenGrant};
use criterion::Criterion;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;

const GROUP: &str = "http_get";
const PLAIN: &str = "plain_reqwest";
const AUTHED: &str = "authed_client";
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok";

/// Serves every request on a connection with [`RESPONSE`], keeping it alive.
async fn serve(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let n = match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        // GET requests have no body: each head terminator is one request.
        let mut answered = 0;
        while let Some(end) = buf[answered..].windows(4).position(|w| w == b"\r\n\r\n") {
            answered += end + 4;
            if stream.write_all(RESPONSE).await.is_err() {
                return;
            }
        }
        buf.drain(..answered);
    }
}

async fn start_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback server");
    let addr = listener.local_addr().expect("server address");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream));
        }
    });
    format!("http://{addr}/data")
}

struct Setup {
    url: String,
    http: reqwest::Client,
    authed: AuthedClient,
    token: String,
    _manager: ServerManager,
}

fn setup(runtime: &Runtime) -> Setup {
    let url = runtime.block_on(start_server());
    let http = build_client(HttpConfig::default()).expect("client");
    let manager = ServerManager::open(ManagerConfig::new(Arc::new(MemoryStore::new()), Arc::new(MemoryStore::new())))
        .expect("manager");
    let provider = Provider::Oidc(OidcConfig {
        issuer: "https://id.bench.example".into(),
        client_id: "bench".into(),
        redirect_uri: "com.example.bench:/callback".into(),
        scopes: vec![],
    });
    let session = manager.add_server(&url, Some("bench"), provider).expect("server");
    let token = format!("eyJhbGciOiJSUzI1NiJ9.{}.sig", "a".repeat(600));
    let grant = TokenGrant {
        access: Secret::new(token.as_str()),
        refresh: Some(Secret::new("refresh")),
        id_token: None,
        expires_in: Some(86_400),
    };
    session.sign_in(ProviderKind::Oidc, grant).expect("sign in");
    let authed = AuthedClient::new(http.clone(), session);
    Setup { url, http, authed, token, _manager: manager }
}

async fn plain_get(s: &Setup) {
    let response = s.http.get(&s.url).bearer_auth(&s.token).send().await.expect("plain GET");
    assert_eq!(response.status().as_u16(), 200);
    black_box(response.bytes().await.expect("plain body"));
}

async fn authed_get(s: &Setup) {
    let response = s.authed.send(s.authed.get(&s.url)).await.expect("authed GET");
    assert_eq!(response.status().as_u16(), 200);
    black_box(response.bytes().await.expect("authed body"));
}

/// `iters` sequential requests of one kind, timed inside one `block_on`.
fn timed(runtime: &Runtime, s: &Setup, authed: bool, iters: u64) -> Duration {
    runtime.block_on(async {
        let start = Instant::now();
        for _ in 0..iters {
            if authed {
                authed_get(s).await;
            } else {
                plain_get(s).await;
            }
        }
        start.elapsed()
    })
}

fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("criterion")
}

/// Criterion's mean estimate (ns) for `id` from this run.
fn criterion_mean(id: &str) -> Option<f64> {
    let path = criterion_dir().join(GROUP).join(id).join("new").join("estimates.json");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    json["mean"]["point_estimate"].as_f64()
}

/// Alternating rounds of `per_round` plain and authed requests; the median of
/// the per-round ratios, and the median per-request times.
fn interleaved(runtime: &Runtime, s: &Setup, rounds: usize, per_round: u64) -> (f64, f64, f64) {
    let mut ratios = Vec::with_capacity(rounds);
    let mut plain_ns = Vec::with_capacity(rounds);
    let mut authed_ns = Vec::with_capacity(rounds);
    for round in 0..rounds {
        // Alternate which goes first so drift does not favour one side.
        let (p, a) = if round % 2 == 0 {
            let p = timed(runtime, s, false, per_round);
            (p, timed(runtime, s, true, per_round))
        } else {
            let a = timed(runtime, s, true, per_round);
            (timed(runtime, s, false, per_round), a)
        };
        let p = p.as_nanos() as f64 / per_round as f64;
        let a = a.as_nanos() as f64 / per_round as f64;
        plain_ns.push(p);
        authed_ns.push(a);
        ratios.push(a / p);
    }
    (median(&mut ratios), median(&mut plain_ns), median(&mut authed_ns))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let listing = args.iter().any(|a| a == "--list");
    let test_mode = args.iter().any(|a| a == "--test");

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let s = setup(&runtime);
    // Open the keep-alive connection before anything is measured.
    timed(&runtime, &s, false, 10);
    timed(&runtime, &s, true, 10);

    let mut c = Criterion::default()
        .output_directory(&criterion_dir())
        .sample_size(50)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(6))
        .configure_from_args();
    {
        let mut group = c.benchmark_group(GROUP);
        group.bench_function(PLAIN, |b| b.iter_custom(|iters| timed(&runtime, &s, false, iters)));
        group.bench_function(AUTHED, |b| b.iter_custom(|iters| timed(&runtime, &s, true, iters)));
        group.finish();
    }
    c.final_summary();

    if listing {
        return;
    }
    let (rounds, per_round) = if test_mode { (3, 20) } else { (31, 2_000) };
    let (ratio, plain, authed) = interleaved(&runtime, &s, rounds, per_round);
    println!(
        "interleaved ({rounds} rounds x {per_round} requests each side): plain {:.2} µs, AuthedClient {:.2} µs per GET",
        plain / 1000.0,
        authed / 1000.0
    );
    if !test_mode && let (Some(p), Some(a)) = (criterion_mean(PLAIN), criterion_mean(AUTHED)) {
        println!("criterion means: plain {:.2} µs, AuthedClient {:.2} µs; ratio {:.3}", p / 1000.0, a / 1000.0, a / p);
    }
    let verdict = match (test_mode, ratio <= 1.05) {
        (true, _) => "--test smoke run, not a measurement",
        (false, true) => "target <= 1.05: met",
        (false, false) => "target <= 1.05: NOT met",
    };
    println!("overhead ratio AuthedClient/plain = {ratio:.3} ({verdict})");
}
