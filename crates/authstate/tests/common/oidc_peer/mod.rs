//! A real OpenID provider for the integration tests: oidc-provider (Node),
//! run from `tests/peers/oidc/server.mjs` on a free port of 127.0.0.1.
//!
//! `OidcPeer::start` returns `None` (and prints `SKIP: …`) when `node` or
//! `npm` is missing, unless `AUTHSTATE_REQUIRE_PEERS=1`, which makes that a
//! panic. The provider's keys and token store live in a temp dir the peer
//! owns, so `stop` + `restart` keeps every session, grant and token.
//!
//! The browser half of a login is played by [`drive_login`] and
//! [`drive_login_deny`], with the provider's development interactions.

use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader, ErrorKind};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use reqwest::{StatusCode, redirect};
use tempfile::TempDir;

mod browser;
mod client;

use super::peer_process::{Log, Process};

#[allow(unused_imports)] // each test binary uses some of them
pub use browser::{drive_login, drive_login_deny};
#[allow(unused_imports)]
pub use client::{ALIAS, PeerClient};

/// The one client the provider knows: native, public, PKCE S256 required.
pub const CLIENT_ID: &str = "authstate-test";
/// The registered redirect URI. The client is native, so the provider also
/// accepts it with any port (`http://127.0.0.1:<port>/callback`, RFC 8252);
/// `localhost` or another path is rejected.
pub const REDIRECT_URI: &str = "http://127.0.0.1/callback";
/// With this set to `1`, a missing `node`/`npm` fails the test instead of skipping it.
pub const REQUIRE_PEERS_VAR: &str = "AUTHSTATE_REQUIRE_PEERS";

/// How long a provider may take to print READY. Starts are serialised (see
/// [`STARTING`]), so this is one start on a machine busy with other tests.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// One provider starts at a time in a test process: sixteen Node processes
/// loading oidc-provider at once on two cores could take longer than any
/// sensible timeout.
static STARTING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
const NPM_LOCK_TIMEOUT: Duration = Duration::from_secs(300);

/// How to configure the provider.
#[derive(Debug, Clone)]
pub struct PeerOptions {
    /// Access token lifetime in seconds (the provider has no clock leeway).
    pub access_token_ttl_secs: u64,
    /// Redirect URIs registered in addition to [`REDIRECT_URI`].
    pub extra_redirect_uris: Vec<String>,
}

impl Default for PeerOptions {
    fn default() -> Self {
        Self { access_token_ttl_secs: 60, extra_redirect_uris: Vec::new() }
    }
}

/// Requests the provider received since it started (or since `reset_counts`).
/// Counts restart at zero when the process restarts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerCounts {
    /// `POST` to the token endpoint (any grant, failed ones included).
    pub token: u64,
    /// `POST` to the revocation endpoint.
    pub revocation: u64,
    /// `GET` or `POST` to the userinfo endpoint.
    pub userinfo: u64,
}

/// The provider's endpoints, as its discovery document gives them.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub authorization: String,
    pub token: String,
    pub revocation: String,
    pub userinfo: String,
    pub jwks: String,
}

/// A running oidc-provider. Dropping it kills the process.
pub struct OidcPeer {
    port: u16,
    opts: PeerOptions,
    state_dir: TempDir,
    process: Option<Process>,
    log: Log,
    http: reqwest::Client,
    endpoints: Endpoints,
}

impl OidcPeer {
    /// Starts the provider on a free port and waits until discovery answers.
    /// `None` when `node`/`npm` is missing (see the module docs).
    pub async fn start(opts: PeerOptions) -> Option<OidcPeer> {
        if let Err(why) = tool_present("node") {
            return skip(&why);
        }
        match tokio::task::spawn_blocking(ensure_node_modules).await.expect("npm ci task panicked") {
            Ok(()) => {}
            Err(Setup::Missing(why)) => return skip(&why),
            Err(Setup::Failed(why)) => panic!("oidc peer setup failed: {why}"),
        }
        let port = free_port();
        let state_dir =
            tempfile::Builder::new().prefix("authstate-oidc-").tempdir().expect("temp dir for the provider");
        let log = Log::default();
        let http = http_client(false);
        // Until `OidcPeer` exists, `Process` kills the child if a step panics.
        let process = launch(port, &opts, state_dir.path(), &log).await;
        let endpoints = await_discovery(&http, port, &log).await;
        Some(OidcPeer { port, opts, state_dir, process: Some(process), log, http, endpoints })
    }

    /// `https://127.0.0.1:<port>`, the issuer and base URL (TLS with [`TLS_CERT_PEM`]).
    pub fn issuer(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn client_id(&self) -> &str {
        CLIENT_ID
    }

    /// [`REDIRECT_URI`]; any port may be added to it.
    pub fn redirect_uri(&self) -> String {
        REDIRECT_URI.to_owned()
    }

    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// The provider's stderr so far (its error events carry the real reasons).
    pub fn log(&self) -> String {
        self.log.text()
    }

    pub async fn counts(&self) -> PeerCounts {
        let url = format!("{}/__test/counts", self.issuer());
        let body: serde_json::Value = self
            .http
            .get(&url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .expect("GET /__test/counts")
            .json()
            .await
            .expect("counts are JSON");
        let count = |name: &str| body[name].as_u64().unwrap_or_else(|| panic!("counts lack {name}: {body}"));
        PeerCounts { token: count("token"), revocation: count("revocation"), userinfo: count("userinfo") }
    }

    pub async fn reset_counts(&self) {
        let url = format!("{}/__test/reset", self.issuer());
        self.http.post(&url).send().await.and_then(|r| r.error_for_status()).expect("POST /__test/reset");
    }

    /// Kills the provider (SIGKILL, as a crash would) and waits for it; its
    /// port then refuses connections. State on disk is kept.
    pub fn stop(&mut self) {
        self.process = None;
    }

    /// Starts the provider again on the same port with the same state:
    /// sessions, grants and tokens issued before are still valid.
    pub async fn restart(&mut self) {
        self.stop();
        self.log.push("---- restart ----".into());
        self.process = Some(launch(self.port, &self.opts, self.state_dir.path(), &self.log).await);
        await_discovery(&self.http, self.port, &self.log).await;
    }

    /// Freezes the provider (SIGSTOP): the kernel still accepts connections,
    /// but requests hang until [`OidcPeer::resume`].
    pub fn pause(&self) {
        self.signal("STOP");
    }

    /// Lets a paused provider run again (SIGCONT); hung requests then finish.
    pub fn resume(&self) {
        self.signal("CONT");
    }

    fn signal(&self, name: &str) {
        let pid = self.process.as_ref().expect("the peer is running").0.id();
        let status = Command::new("kill").arg(format!("-{name}")).arg(pid.to_string()).status().expect("run kill");
        assert!(status.success(), "kill -{name} {pid}: {status}");
    }

    /// `GET` userinfo with the access token as a bearer token.
    pub async fn userinfo(&self, access_token: &str) -> reqwest::Response {
        self.http.get(&self.endpoints.userinfo).bearer_auth(access_token).send().await.expect("GET userinfo")
    }

    /// Revokes a token (access or refresh) at the provider, as an admin would.
    pub async fn revoke_at_provider(&self, token: &str) {
        let response = self
            .http
            .post(&self.endpoints.revocation)
            .form(&[("client_id", CLIENT_ID), ("token", token)])
            .send()
            .await
            .expect("POST revocation");
        let status = response.status();
        assert_eq!(
            status,
            StatusCode::OK,
            "revocation answered {status}: {}",
            response.text().await.unwrap_or_default()
        );
    }
}

impl Drop for OidcPeer {
    fn drop(&mut self) {
        self.stop();
        if thread::panicking() {
            eprintln!("---- oidc provider stderr (port {}) ----\n{}", self.port, self.log.text());
        }
    }
}

/// The provider serves this self-signed certificate (`tests/peers/oidc/tls/`);
/// clients under test trust it with `HttpConfig::trusting(TLS_CERT_PEM)`.
pub const TLS_CERT_PEM: &str = include_str!("../../../../../tests/peers/oidc/tls/cert.pem");

/// A client that trusts the provider's certificate, follows no redirects and,
/// with `cookies`, keeps a cookie jar (a browser).
pub fn http_client(cookies: bool) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cert = reqwest::Certificate::from_pem(TLS_CERT_PEM.as_bytes()).expect("test certificate");
    reqwest::Client::builder()
        .tls_certs_merge([cert])
        .redirect(redirect::Policy::none())
        .cookie_store(cookies)
        .no_proxy()
        .timeout(Duration::from_secs(15))
        .build()
        .expect("reqwest client")
}

fn peer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers/oidc")
}

fn skip<T>(why: &str) -> Option<T> {
    if std::env::var(REQUIRE_PEERS_VAR).is_ok_and(|v| v == "1") {
        panic!("the oidc peer is required ({REQUIRE_PEERS_VAR}=1) but {why}");
    }
    eprintln!("SKIP: {why}");
    None
}

/// `Err` names the missing tool, e.g. `node not found (…)`.
fn tool_present(tool: &str) -> Result<(), String> {
    match Command::new(tool).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status() {
        Ok(_) => Ok(()),
        Err(e) => Err(format!("{tool} not found (running `{tool} --version`: {e})")),
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

enum Setup {
    /// A tool is missing: skip (or panic when peers are required).
    Missing(String),
    /// Installing failed: always a test failure.
    Failed(String),
}

/// Runs `npm ci` once if `node_modules` is not complete: once per process
/// (the `OnceLock` makes other threads wait), once across processes (a lock
/// file next to `package.json`).
fn ensure_node_modules() -> Result<(), Setup> {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    let dir = peer_dir();
    if installed(&dir) {
        return Ok(());
    }
    tool_present("npm").map_err(Setup::Missing)?;
    INSTALLED.get_or_init(|| npm_ci(&dir)).clone().map_err(Setup::Failed)
}

fn installed(dir: &Path) -> bool {
    // npm writes the hidden lockfile last, so a cut-short install lacks it.
    dir.join("node_modules/.package-lock.json").is_file()
        && dir.join("node_modules/oidc-provider/package.json").is_file()
}

fn npm_ci(dir: &Path) -> Result<(), String> {
    let _lock = LockFile::acquire(&dir.join(".npm-ci.lock"))?;
    if installed(dir) {
        return Ok(());
    }
    let out = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running npm ci: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "npm ci in {} exited with {}:\n{}",
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// A lock between test processes: the file exists while held.
struct LockFile(PathBuf);

impl LockFile {
    fn acquire(path: &Path) -> Result<LockFile, String> {
        let deadline = Instant::now() + NPM_LOCK_TIMEOUT;
        loop {
            match OpenOptions::new().write(true).create_new(true).open(path) {
                Ok(_) => return Ok(LockFile(path.to_owned())),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    if is_stale(path) {
                        let _ = fs::remove_file(path);
                        continue;
                    }
                    if Instant::now() >= deadline {
                        return Err(format!("{} still held after {NPM_LOCK_TIMEOUT:?}", path.display()));
                    }
                    thread::sleep(Duration::from_millis(200));
                }
                Err(e) => return Err(format!("creating {}: {e}", path.display())),
            }
        }
    }
}

/// A lock older than the wait timeout was left by a killed process.
fn is_stale(path: &Path) -> bool {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|age| age > NPM_LOCK_TIMEOUT)
}

impl Drop for LockFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// Polls discovery until it answers 200, and reads the endpoints from it.
async fn await_discovery(http: &reqwest::Client, port: u16, log: &Log) -> Endpoints {
    let url = format!("https://127.0.0.1:{port}/.well-known/openid-configuration");
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        match http.get(&url).send().await {
            Ok(r) if r.status() == StatusCode::OK => {
                let doc: serde_json::Value = r.json().await.expect("discovery is JSON");
                let field = |name: &str| {
                    doc[name].as_str().unwrap_or_else(|| panic!("discovery lacks {name}: {doc}")).to_owned()
                };
                return Endpoints {
                    authorization: field("authorization_endpoint"),
                    token: field("token_endpoint"),
                    revocation: field("revocation_endpoint"),
                    userinfo: field("userinfo_endpoint"),
                    jwks: field("jwks_uri"),
                };
            }
            outcome if Instant::now() >= deadline => {
                panic!("oidc peer discovery not ready: {outcome:?}\n---- provider stderr ----\n{}", log.text())
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Spawns `node server.mjs` and waits for its `READY <port>` line.
async fn launch(port: u16, opts: &PeerOptions, state_dir: &Path, log: &Log) -> Process {
    let _one_at_a_time = STARTING.lock().await;
    let mut process = Process(
        Command::new("node")
            .arg("server.mjs")
            .current_dir(peer_dir())
            .env("PORT", port.to_string())
            .env("TLS_CERT", peer_dir().join("tls/cert.pem"))
            .env("TLS_KEY", peer_dir().join("tls/key.pem"))
            .env("STATE_DIR", state_dir)
            .env("ACCESS_TOKEN_TTL", opts.access_token_ttl_secs.to_string())
            .env("REDIRECT_URIS", opts.extra_redirect_uris.join(","))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn node server.mjs"),
    );
    let stdout = process.0.stdout.take().expect("piped stdout");
    let stderr = log.collect(process.0.stderr.take().expect("piped stderr"));

    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();
    let expected = format!("READY {port}");
    thread::spawn(move || {
        let mut ready_tx = Some(ready_tx);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.trim() == expected
                && let Some(tx) = ready_tx.take()
            {
                let _ = tx.send(());
            }
        }
        // Dropping an unsent `ready_tx` here tells the waiter the process ended.
    });

    let why = match tokio::time::timeout(READY_TIMEOUT, ready_rx).await {
        Ok(Ok(())) => return process,
        Ok(Err(_)) => "it exited before printing READY".to_owned(),
        Err(_) => format!("no READY line within {READY_TIMEOUT:?}"),
    };
    let _ = process.0.kill();
    let status = process.0.wait();
    let _ = stderr.join();
    panic!(
        "oidc peer on port {port} failed to start: {why} (exit: {status:?})\n---- provider stderr ----\n{}",
        log.text()
    );
}
