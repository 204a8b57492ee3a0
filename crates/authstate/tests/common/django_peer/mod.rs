//! A real Django REST framework server for the integration tests:
//! `tests/peers/django/serve.py` (simplejwt JWT pairs and knox per-device
//! tokens) on a free port of 127.0.0.1. Its README lists the endpoints.
//!
//! `DjangoPeer::start` returns `None` (and prints `SKIP: …`) when `python3`
//! or the peer's pip packages are missing, unless `AUTHSTATE_REQUIRE_PEERS=1`,
//! which makes that a panic. The harness never runs pip. The SQLite database
//! lives in a temp dir the peer owns, so `stop` + `restart` keeps every user
//! and token.

use std::process::Command;
use std::thread;
use std::time::Duration;

use reqwest::{StatusCode, redirect};
use serde_json::{Value, json};
use tempfile::TempDir;

mod process;

use process::{Log, Process, launch, python_ready};

/// With this set to `1`, a missing `python3` or package fails the test instead of skipping it.
pub const REQUIRE_PEERS_VAR: &str = "AUTHSTATE_REQUIRE_PEERS";

/// Token lifetimes the server runs with (it has no clock leeway).
#[derive(Debug, Clone)]
pub struct DjangoOptions {
    /// simplejwt access token lifetime.
    pub access_ttl_secs: u64,
    /// simplejwt refresh token lifetime.
    pub refresh_ttl_secs: u64,
    /// knox token lifetime (knox's own expiry; it never auto-refreshes).
    pub knox_ttl_secs: u64,
}

impl Default for DjangoOptions {
    fn default() -> Self {
        Self { access_ttl_secs: 300, refresh_ttl_secs: 86_400, knox_ttl_secs: 86_400 }
    }
}

/// Requests the server received per endpoint since it started (or since
/// `reset_counts`), failed ones included. Counts restart at zero with the process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DjangoCounts {
    /// `POST api/token/`.
    pub jwt_login: u64,
    /// `POST api/token/refresh/`, `refresh-bearer/` and `refresh-query/`.
    pub jwt_refresh: u64,
    /// `POST api/token/blacklist/`.
    pub jwt_blacklist: u64,
    /// `POST api/v1/auth/login/`.
    pub knox_login: u64,
    /// `GET api/v1/auth/session/`.
    pub probe: u64,
    /// `POST api/v1/auth/logout/`.
    pub logout: u64,
    /// `POST api/v1/auth/logoutall/`.
    pub logoutall: u64,
    /// `GET api/v1/auth/sessions/` and `DELETE api/v1/auth/sessions/<id>/`.
    pub sessions: u64,
    /// `POST api/v1/auth/password/`.
    pub password: u64,
    /// `GET api/me/` and `GET api/v1/me/`.
    pub me: u64,
}

/// A running Django peer. Dropping it kills the process.
pub struct DjangoPeer {
    port: u16,
    opts: DjangoOptions,
    state_dir: TempDir,
    process: Option<Process>,
    log: Log,
    http: reqwest::Client,
}

impl DjangoPeer {
    /// Starts the server on a free port; it is ready when this returns.
    /// `None` when python3 or the packages are missing (see the module docs).
    pub async fn start(opts: DjangoOptions) -> Option<DjangoPeer> {
        if let Err(why) = tokio::task::spawn_blocking(python_ready).await.expect("python check panicked") {
            return skip(&why);
        }
        let state_dir = tempfile::Builder::new().prefix("authstate-django-").tempdir().expect("temp dir for the peer");
        let log = Log::default();
        // Until `DjangoPeer` exists, `Process` kills the child if a step panics.
        let (process, port) = launch(0, &opts, state_dir.path(), &log).await;
        Some(DjangoPeer { port, opts, state_dir, process: Some(process), log, http: http_client() })
    }

    /// `http://127.0.0.1:<port>`; endpoint paths are relative to it.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `base_url()` joined with a path such as `api/token/`.
    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base_url(), path.trim_start_matches('/'))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's stderr so far: one line per request, and tracebacks.
    pub fn log(&self) -> String {
        self.log.text()
    }

    /// Creates the user, or resets its password if it exists.
    pub async fn create_user(&self, name: &str, password: &str) {
        let response = self
            .http
            .post(self.url("__test/users/"))
            .json(&json!({"username": name, "password": password}))
            .send()
            .await
            .expect("POST __test/users/");
        let status = response.status();
        assert_eq!(status, StatusCode::CREATED, "create user {name}: {}", response.text().await.unwrap_or_default());
    }

    pub async fn counts(&self) -> DjangoCounts {
        let body: Value = self
            .http
            .get(self.url("__test/counts"))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .expect("GET __test/counts")
            .json()
            .await
            .expect("counts are JSON");
        let count = |name: &str| body[name].as_u64().unwrap_or_else(|| panic!("counts lack {name}: {body}"));
        DjangoCounts {
            jwt_login: count("jwt_login"),
            jwt_refresh: count("jwt_refresh"),
            jwt_blacklist: count("jwt_blacklist"),
            knox_login: count("knox_login"),
            probe: count("probe"),
            logout: count("logout"),
            logoutall: count("logoutall"),
            sessions: count("sessions"),
            password: count("password"),
            me: count("me"),
        }
    }

    pub async fn reset_counts(&self) {
        self.http
            .post(self.url("__test/reset"))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .expect("POST __test/reset");
    }

    /// Kills the server (SIGKILL, as a crash would) and waits for it; its
    /// port then refuses connections. The database is kept.
    pub fn stop(&mut self) {
        self.process = None;
    }

    /// Starts the server again on the same port with the same database:
    /// users and tokens issued before are still valid (and revoked ones still revoked).
    pub async fn restart(&mut self) {
        self.stop();
        self.log.push("---- restart ----".into());
        let (process, _) = launch(self.port, &self.opts, self.state_dir.path(), &self.log).await;
        self.process = Some(process);
    }

    /// Freezes the server (SIGSTOP): the kernel still accepts connections,
    /// but requests hang until [`DjangoPeer::resume`].
    pub fn pause(&self) {
        self.signal("STOP");
    }

    /// Lets a paused server run again (SIGCONT); hung requests then finish.
    pub fn resume(&self) {
        self.signal("CONT");
    }

    fn signal(&self, name: &str) {
        let pid = self.process.as_ref().expect("the peer is running").0.id();
        let status = Command::new("kill").arg(format!("-{name}")).arg(pid.to_string()).status().expect("run kill");
        assert!(status.success(), "kill -{name} {pid}: {status}");
    }
}

impl Drop for DjangoPeer {
    fn drop(&mut self) {
        self.stop();
        if thread::panicking() {
            eprintln!("---- django peer stderr (port {}) ----\n{}", self.port, self.log.text());
        }
    }
}

/// A plain client for the peer: no redirects followed, no proxy, 15 s timeout.
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(15))
        .build()
        .expect("reqwest client")
}

fn skip<T>(why: &str) -> Option<T> {
    if std::env::var(REQUIRE_PEERS_VAR).is_ok_and(|v| v == "1") {
        panic!("the django peer is required ({REQUIRE_PEERS_VAR}=1) but {why}");
    }
    eprintln!("SKIP: {why}");
    None
}
