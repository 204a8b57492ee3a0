//! Running the `authstate` binary in tests: a temporary store directory per
//! "machine", file secrets unless asked for the keyring, captured output with
//! its exit code, a login running in the background whose stderr is read line
//! by line, and checks that no secret reaches the output.
//!
//! The real servers come from the core crate's harnesses, reused in place.
#![allow(dead_code)]

#[path = "../../../authstate/tests/common/django_peer/mod.rs"]
pub mod django_peer;
#[path = "../../../authstate/tests/common/oidc_peer/mod.rs"]
pub mod oidc_peer;
#[path = "../../../authstate/tests/common/peer_process.rs"]
pub mod peer_process;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long one CLI command may take before the test fails.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(90);

/// The password the Django peer's users get.
pub const PASSWORD: &str = "correct horse battery staple";

/// The OIDC test provider's self-signed certificate.
pub fn test_ca_cert() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers/oidc/tls/cert.pem")
}

/// One "machine": its own store directory, and where it keeps secrets.
pub struct Machine {
    dir: TempDir,
    keyring: bool,
    ca_cert: Option<PathBuf>,
}

impl Machine {
    /// Secrets in `<store-dir>/secrets.json` (`--secrets file`).
    pub fn new() -> Self {
        let dir = tempfile::Builder::new().prefix("authstate-cli-").tempdir().expect("temp store dir");
        // Private, as the CLI creates a store directory (a loose one draws a warning).
        #[cfg(unix)]
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o700)).expect("chmod");
        Self { dir, keyring: false, ca_cert: None }
    }

    /// Secrets in the OS keyring: no `--secrets` flag, the default.
    pub fn with_keyring() -> Self {
        Self { keyring: true, ..Self::new() }
    }

    /// Trusts the OIDC test provider's certificate (`--ca-cert`).
    pub fn trusting_test_ca(mut self) -> Self {
        self.ca_cert = Some(test_ca_cert());
        self
    }

    pub fn store_dir(&self) -> &Path {
        self.dir.path()
    }

    /// `authstate --store-dir … [--secrets file] [--ca-cert …] <args>`, with
    /// no AUTHSTATE_* variable inherited from the caller's environment. The
    /// binary is this build's, or the one `AUTHSTATE_CLI_BIN` names (a
    /// release build, for timings).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(binary());
        for var in ["AUTHSTATE_STORE_DIR", "AUTHSTATE_SECRETS", "AUTHSTATE_CA_CERT", "DISPLAY", "WAYLAND_DISPLAY"] {
            command.env_remove(var);
        }
        command.arg("--store-dir").arg(self.dir.path());
        if !self.keyring {
            command.args(["--secrets", "file"]);
        }
        if let Some(cert) = &self.ca_cert {
            command.arg("--ca-cert").arg(cert);
        }
        command.args(args);
        command
    }

    /// Runs the command to its end (stdin empty).
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, "")
    }

    /// Runs the command to its end with `stdin` as its input.
    pub fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Run {
        run_command(self.command(args), args, stdin)
    }

    /// Signs `alias` in with `access` (valid for an hour, no refresh token)
    /// through the core's public API over this machine's files: a signed-in
    /// store prepared without a server. File secrets only.
    pub fn sign_in_offline(&self, alias: &str, access: &str) {
        let grant = authstate::TokenGrant { expires_in: Some(3600), ..authstate::TokenGrant::access_only(access) };
        self.sign_in_offline_with(alias, grant);
    }

    /// Signs `alias` in with `grant` through the core's public API over this
    /// machine's files (no server); the session, for further changes such
    /// as `mark_expired`. File secrets only.
    pub fn sign_in_offline_with(
        &self,
        alias: &str,
        grant: authstate::TokenGrant,
    ) -> std::sync::Arc<authstate::ServerSession> {
        use authstate::storage::FileStore;
        use authstate::{ManagerConfig, ServerManager};
        assert!(!self.keyring, "sign_in_offline writes secrets.json");
        let secrets = FileStore::open(self.store_dir().join("secrets.json")).expect("open secrets.json");
        let state = FileStore::open(self.store_dir().join("state.json")).expect("open state.json");
        let manager = ServerManager::open(ManagerConfig::new(std::sync::Arc::new(secrets), std::sync::Arc::new(state)))
            .expect("open the stores");
        let session = manager.session(alias).unwrap_or_else(|| panic!("no server {alias}"));
        let kind = session.info().provider.kind();
        session.sign_in(kind, grant).expect("sign in offline");
        session
    }

    /// Starts a command in the background, its stderr read line by line.
    pub fn spawn(&self, args: &[&str]) -> Background {
        let mut child = self
            .command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn authstate");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, lines) = channel();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Background { args: args.iter().map(|a| (*a).to_owned()).collect(), child: Some(child), lines, seen: Vec::new() }
    }

    /// `server add <args…>`, which must succeed.
    pub fn add_server(&self, args: &[&str]) {
        let mut all = vec!["server", "add"];
        all.extend_from_slice(args);
        self.run(&all).success();
    }

    /// `login <alias> --username <user> --password-stdin` with `password` piped.
    pub fn password_login(&self, alias: &str, user: &str, password: &str, extra: &[&str]) -> Run {
        let mut args = vec!["login", alias, "--username", user, "--password-stdin"];
        args.extend_from_slice(extra);
        self.run_with_stdin(&args, &format!("{password}\n"))
    }

    /// `token <alias>`, which must succeed; the token (stdout without its newline).
    pub fn token(&self, alias: &str) -> String {
        let run = self.run(&["token", alias]).success();
        let token = run.stdout.strip_suffix('\n').unwrap_or_else(|| panic!("token output lacks its newline\n{run}"));
        assert!(!token.is_empty() && !token.contains(char::is_whitespace), "stdout is not one token\n{run}");
        token.to_owned()
    }

    /// Makes the stored access token of `alias` expired (its `expires_at`
    /// in `secrets.json` set in the past), so the next `token` refreshes
    /// whatever the server's token lifetime. File secrets only; no command
    /// may be running.
    pub fn expire_access_token(&self, alias: &str) {
        assert!(!self.keyring, "expire_access_token edits secrets.json");
        let path = self.store_dir().join("secrets.json");
        let text = std::fs::read_to_string(&path).expect("secrets.json exists");
        let mut doc: serde_json::Value = serde_json::from_str(&text).expect("secrets.json is JSON");
        let entry = &mut doc["entries"][format!("authstate.tokens.{alias}")];
        let mut record: serde_json::Value =
            serde_json::from_str(entry.as_str().expect("a tokens entry")).expect("the tokens record is JSON");
        record["tokens"]["expires_at"] = "2000-01-01T00:00:00Z".into();
        *entry = record.to_string().into();
        // Not a `secrets.json.tmp-*` name: those are the store's own, which must never be left behind.
        let edit = self.store_dir().join("secrets.json.edit");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        std::io::Write::write_all(&mut options.open(&edit).expect("create the edit"), doc.to_string().as_bytes())
            .expect("write the edited secrets");
        std::fs::rename(&edit, &path).expect("replace secrets.json");
    }

    /// The refresh token stored for `alias` (file secrets).
    pub fn stored_refresh_token(&self, alias: &str) -> Option<String> {
        let text = std::fs::read_to_string(self.store_dir().join("secrets.json")).ok()?;
        let doc: serde_json::Value = serde_json::from_str(&text).ok()?;
        let record: serde_json::Value =
            serde_json::from_str(doc["entries"][format!("authstate.tokens.{alias}")].as_str()?).ok()?;
        record["tokens"]["refresh"].as_str().map(str::to_owned)
    }

    /// Temporary files a store writer left in the store directory (`*.tmp-*`).
    pub fn temporary_files(&self) -> Vec<String> {
        std::fs::read_dir(self.store_dir())
            .expect("list the store dir")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|name| name.contains(".tmp-"))
            .collect()
    }

    /// `status --json`, parsed: the row of `alias`.
    pub fn status_of(&self, alias: &str) -> serde_json::Value {
        let run = self.run(&["status", "--json"]).success();
        let rows: serde_json::Value = serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}\n{run}"));
        rows.as_array()
            .and_then(|rows| rows.iter().find(|r| r["alias"] == alias))
            .cloned()
            .unwrap_or_else(|| panic!("no {alias} in status\n{run}"))
    }
}

/// The `authstate` binary: this build's, or the one `AUTHSTATE_CLI_BIN`
/// names (a release build, for timings).
pub fn binary() -> PathBuf {
    std::env::var_os("AUTHSTATE_CLI_BIN")
        .map_or_else(|| PathBuf::from(assert_cmd::cargo::cargo_bin!("authstate")), PathBuf::from)
}

/// Runs `command` (whose arguments are `args`, for messages) to its end with
/// `stdin` as its input.
pub fn run_command(command: Command, args: &[&str], stdin: &str) -> Run {
    let mut command = assert_cmd::Command::from_std(command);
    command.write_stdin(stdin.as_bytes().to_vec()).timeout(COMMAND_TIMEOUT);
    let output = command.output().expect("run authstate");
    let run = Run {
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert!(run.code.is_some(), "authstate {:?} was killed (timeout {COMMAND_TIMEOUT:?}?)\n{run}", run.args);
    run
}

/// A finished command.
#[derive(Debug, Clone)]
pub struct Run {
    pub args: Vec<String>,
    /// `None` when killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "authstate {:?} -> {:?}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.args, self.code, self.stdout, self.stderr
        )
    }
}

impl Run {
    /// Asserts exit 0.
    pub fn success(self) -> Self {
        self.code(0)
    }

    /// Asserts the exit code.
    pub fn code(self, code: i32) -> Self {
        assert_eq!(self.code, Some(code), "unexpected exit code\n{self}");
        self
    }

    /// Asserts a failure is reported as one `error:` line, optionally one
    /// `hint:` line, and nothing else (no backtrace, no spinner).
    pub fn one_line_error(self) -> Self {
        let lines: Vec<&str> = self.stderr.lines().collect();
        let shape_ok = match lines.as_slice() {
            [error] => error.starts_with("error: "),
            [error, hint] => error.starts_with("error: ") && hint.starts_with("hint: "),
            _ => false,
        };
        assert!(shape_ok, "stderr is not `error:` [+ `hint:`]\n{self}");
        assert!(self.stdout.is_empty(), "a failure printed on stdout\n{self}");
        self
    }

    /// Asserts stderr contains `text`.
    pub fn stderr_has(self, text: &str) -> Self {
        assert!(self.stderr.contains(text), "stderr lacks {text:?}\n{self}");
        self
    }

    /// Asserts none of `secrets` appears in stdout or stderr.
    pub fn reveals_none(self, secrets: &[&str]) -> Self {
        for secret in secrets.iter().filter(|s| !s.is_empty()) {
            assert!(!self.stdout.contains(secret) && !self.stderr.contains(secret), "a secret was printed\n{self}");
        }
        self
    }
}

/// A command running in the background.
pub struct Background {
    args: Vec<String>,
    child: Option<Child>,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Background {
    /// Waits (until `timeout`) for a stderr line starting with `prefix`; returns the rest of it.
    pub fn wait_for_line(&mut self, prefix: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let rest = line.strip_prefix(prefix).map(str::to_owned);
                    self.seen.push(line);
                    if let Some(rest) = rest {
                        return rest;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no line {prefix:?} within {timeout:?}; stderr: {:?}", self.seen)
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child.as_mut().map(|c| c.wait());
                    panic!("authstate {:?} ended ({status:?}) without {prefix:?}; stderr: {:?}", self.args, self.seen)
                }
            }
        }
    }

    /// Waits (until `timeout`) for the process to exit and returns its output.
    pub async fn finish(mut self, timeout: Duration) -> Run {
        let mut child = self.child.take().expect("running");
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("authstate {:?} still running after {timeout:?}; stderr: {:?}", self.args, self.seen);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let mut stdout = String::new();
        if let Some(mut out) = child.stdout.take() {
            out.read_to_string(&mut stdout).expect("read stdout");
        }
        // The reader thread ends at EOF, which follows the exit.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(line);
        }
        let mut stderr = self.seen.join("\n");
        if !stderr.is_empty() {
            stderr.push('\n');
        }
        Run { args: self.args.clone(), code: status.code(), stdout, stderr }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A local port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// Signs `alias` (an OIDC server of the test provider) in through the
/// loopback receiver, playing the browser as `alice`.
pub async fn browser_login(machine: &Machine, alias: &str) -> Run {
    let mut login = machine.spawn(&["login", alias, "--no-browser", "--timeout", "120"]);
    let url = login.wait_for_line("Open this URL to sign in: ", Duration::from_secs(60));
    let callback = oidc_peer::drive_login(&url, "alice").await;
    assert!(callback.starts_with("http://127.0.0.1:"), "callback goes to the loopback receiver: {callback}");
    // The browser's last hop: the provider's redirect reaches the CLI.
    let page = oidc_peer::http_client(false).get(&callback).send().await.expect("GET the loopback callback");
    assert_eq!(page.status(), reqwest::StatusCode::OK);
    login.finish(Duration::from_secs(60)).await
}

/// Whether a test that needs something this machine lacks (root, a tmpfs
/// mount) must fail instead of skipping: `AUTHSTATE_REQUIRE_PEERS=1`.
pub fn require_or_skip(why: &str) {
    if std::env::var(django_peer::REQUIRE_PEERS_VAR).is_ok_and(|v| v == "1") {
        panic!("required ({}=1) but {why}", django_peer::REQUIRE_PEERS_VAR);
    }
    eprintln!("SKIP: {why}");
}

/// A small tmpfs mounted over a directory (a disk that can be filled),
/// unmounted when dropped. Root only.
#[cfg(target_os = "linux")]
pub struct Tmpfs {
    path: PathBuf,
}

#[cfg(target_os = "linux")]
impl Tmpfs {
    /// Mounts a tmpfs of `size_kib` KiB, mode 0700, over `path`. `None`
    /// (after [`require_or_skip`]) when not root or mounting fails.
    pub fn mount(path: &Path, size_kib: u64) -> Option<Self> {
        // SAFETY: geteuid has no preconditions and touches no memory.
        if unsafe { libc::geteuid() } != 0 {
            require_or_skip("a tmpfs mount needs root");
            return None;
        }
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_kib}k,mode=0700"), "authstate-test"])
            .arg(path)
            .stderr(Stdio::inherit())
            .status();
        if !status.as_ref().is_ok_and(|s| s.success()) {
            require_or_skip(&format!("mount -t tmpfs over {} failed: {status:?}", path.display()));
            return None;
        }
        Some(Self { path: path.to_owned() })
    }

    /// Fills the file system with a file of zeros until it refuses even one
    /// more byte (ENOSPC); returns that file.
    pub fn fill(&self) -> PathBuf {
        use std::io::Write;
        let filler = self.path.join("filler");
        let mut file = std::fs::File::create(&filler).expect("create the filler");
        for chunk in [64 * 1024, 4096, 512, 1] {
            let zeros = vec![0_u8; chunk];
            loop {
                match file.write(&zeros) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
                    Err(e) => panic!("filling {}: {e}", self.path.display()),
                }
            }
        }
        let probe = self.path.join("probe");
        let wrote = std::fs::write(&probe, b"x");
        let _ = std::fs::remove_file(&probe);
        assert!(wrote.is_err(), "the file system still takes a new file");
        filler
    }
}

#[cfg(target_os = "linux")]
impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount").arg(&self.path).status().is_ok_and(|s| s.success());
        if !unmounted {
            // Busy (a process still in it): detach it now, freed when the last user goes.
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
    }
}
