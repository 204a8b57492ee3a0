//! The peer's Python process: the check that its packages are importable,
//! spawning `serve.py` and waiting for its `READY <port>` line, its stderr
//! kept as a log, and SIGKILL on drop.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::Duration;

pub(super) use super::super::peer_process::{Log, Process};
use super::DjangoOptions;

/// How long a server may take to print READY. Starts are serialised (see
/// [`STARTING`]), so this is one start on a machine busy with other tests.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// One server starts at a time in a test process: many Python processes
/// importing Django and migrating at once on two cores would crawl.
static STARTING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
/// What serve.py imports; the harness never installs them (see the README).
const IMPORTS: &str = "import django, rest_framework, rest_framework_simplejwt, knox";

pub(super) fn peer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers/django")
}

/// `Err` says why the peer cannot run here: python3 or its packages missing.
/// Checked once per test process.
pub(super) fn python_ready() -> Result<(), String> {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    READY
        .get_or_init(|| {
            let out = Command::new("python3")
                .args(["-c", IMPORTS])
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("python3 not found (running `python3 -c`: {e})"))?;
            if out.status.success() {
                return Ok(());
            }
            let stderr = String::from_utf8_lossy(&out.stderr);
            Err(format!(
                "the Django peer's packages are not importable ({}); install them with \
                 `python3 -m pip install -r tests/peers/django/requirements.txt`",
                stderr.lines().last().unwrap_or("no output").trim()
            ))
        })
        .clone()
}

/// Spawns `python3 serve.py --port <port>` (0: any free port) over
/// `state_dir` and waits for its READY line. Returns the process and its port.
pub(super) async fn launch(port: u16, opts: &DjangoOptions, state_dir: &Path, log: &Log) -> (Process, u16) {
    let _one_at_a_time = STARTING.lock().await;
    let mut process = Process(
        Command::new("python3")
            .arg("serve.py")
            .arg("--port")
            .arg(port.to_string())
            .current_dir(peer_dir())
            .env("AUTHSTATE_DJANGO_STATE_DIR", state_dir)
            .env("AUTHSTATE_DJANGO_ACCESS_TTL_SECS", opts.access_ttl_secs.to_string())
            .env("AUTHSTATE_DJANGO_REFRESH_TTL_SECS", opts.refresh_ttl_secs.to_string())
            .env("AUTHSTATE_DJANGO_KNOX_TTL_SECS", opts.knox_ttl_secs.to_string())
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn python3 serve.py"),
    );
    let stdout = process.0.stdout.take().expect("piped stdout");
    let stderr = log.collect(process.0.stderr.take().expect("piped stderr"));

    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<u16>();
    thread::spawn(move || {
        let mut ready_tx = Some(ready_tx);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(port) = line.trim().strip_prefix("READY ").and_then(|p| p.parse().ok())
                && let Some(tx) = ready_tx.take()
            {
                let _ = tx.send(port);
            }
        }
        // Dropping an unsent `ready_tx` here tells the waiter the process ended.
    });

    let why = match tokio::time::timeout(READY_TIMEOUT, ready_rx).await {
        Ok(Ok(bound)) if port == 0 || bound == port => return (process, bound),
        Ok(Ok(bound)) => format!("it bound port {bound}"),
        Ok(Err(_)) => "it exited before printing READY".to_owned(),
        Err(_) => format!("no READY line within {READY_TIMEOUT:?}"),
    };
    let _ = process.0.kill();
    let status = process.0.wait();
    let _ = stderr.join();
    panic!(
        "django peer (port {port}) failed to start: {why} (exit: {status:?})\n---- serve.py stderr ----\n{}",
        log.text()
    );
}
