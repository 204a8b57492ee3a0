//! Hand-written endpoints for what wiremock cannot do: [`RawHttpEndpoint`]
//! (an HTTP/1.1 answer cut short of its `content-length`, or held until the
//! test releases it) and [`TlsEndpoint`] (a tiny HTTPS endpoint with the test
//! certificate, for revocation: `oauth2` revokes over HTTPS only).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::time::Duration as StdDuration;

use authstate::http::HttpConfig;
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::fake_idp::{REVOKE_PATH, TOKEN_PATH};

/// What a [`RawHttpEndpoint`] answers.
#[derive(Debug, Clone)]
pub enum RawAnswer {
    /// `200` with `content-length: 200`, fewer bytes of JSON, then the connection closes.
    Truncated,
    /// `200` with this complete JSON body.
    Json(String),
}

struct RawShared {
    answer: Mutex<RawAnswer>,
    open: watch::Sender<bool>,
    received: watch::Sender<usize>,
    bodies: Mutex<Vec<String>>,
}

/// A hand-written HTTP/1.1 endpoint on 127.0.0.1 (one request per connection),
/// for what wiremock cannot do: truncate a body, or hold an answer until released.
pub struct RawHttpEndpoint {
    url: String,
    shared: Arc<RawShared>,
    task: tokio::task::JoinHandle<()>,
}

impl RawHttpEndpoint {
    /// Starts answering `answer` at `http://127.0.0.1:<port>/token`, ungated.
    pub async fn start(answer: RawAnswer) -> Self {
        let listener = match TcpListener::bind("127.0.0.1:0").await {
            Ok(l) => l,
            Err(e) => panic!("bind raw endpoint: {e}"),
        };
        let url = match listener.local_addr() {
            Ok(addr) => format!("http://{addr}{TOKEN_PATH}"),
            Err(e) => panic!("raw endpoint address: {e}"),
        };
        let shared = Arc::new(RawShared {
            answer: Mutex::new(answer),
            open: watch::Sender::new(true),
            received: watch::Sender::new(0),
            bodies: Mutex::new(Vec::new()),
        });
        let accept = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(raw_exchange(stream, Arc::clone(&accept)));
            }
        });
        Self { url, shared, task }
    }

    /// The endpoint's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// What later requests are answered.
    pub fn set_answer(&self, answer: RawAnswer) {
        *self.shared.answer.lock() = answer;
    }

    /// Holds every answer (requests are still read and counted) until [`release`](Self::release).
    pub fn hold(&self) {
        self.shared.open.send_replace(false);
    }

    /// Lets held and later answers go.
    pub fn release(&self) {
        self.shared.open.send_replace(true);
    }

    /// How many requests were read in full.
    pub fn requests(&self) -> usize {
        *self.shared.received.borrow()
    }

    /// Waits until at least `n` requests were read.
    pub async fn wait_for_requests(&self, n: usize) {
        let mut rx = self.shared.received.subscribe();
        let _ = rx.wait_for(|count| *count >= n).await;
    }

    /// The bodies of the requests read so far.
    pub fn bodies(&self) -> Vec<String> {
        self.shared.bodies.lock().clone()
    }
}

impl Drop for RawHttpEndpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn raw_exchange(mut stream: TcpStream, shared: Arc<RawShared>) {
    let Some(body) = read_request(&mut stream).await else { return };
    shared.bodies.lock().push(body);
    shared.received.send_modify(|count| *count += 1);
    let mut open = shared.open.subscribe();
    if open.wait_for(|open| *open).await.is_err() {
        return;
    }
    let answer = shared.answer.lock().clone();
    let bytes = match answer {
        RawAnswer::Truncated => {
            let partial = r#"{"access_token":"never-complete","token_type":"Bearer","#;
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 200\r\nconnection: close\r\n\r\n{partial}"
            )
        }
        RawAnswer::Json(body) => format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        ),
    };
    let _ = stream.write_all(bytes.as_bytes()).await;
    let _ = stream.flush().await;
    let _ = stream.shutdown().await;
}

/// Where a complete request ends in `buf`: the head's end and the body's
/// length, once the head has arrived.
fn request_extent(buf: &[u8]) -> Option<(usize, usize)> {
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    Some((head_end, length))
}

/// The body of a complete request in `buf`, or `None` while more is needed.
fn complete_body(buf: &[u8]) -> Option<String> {
    let (head_end, length) = request_extent(buf)?;
    (buf.len() >= head_end + length).then(|| String::from_utf8_lossy(&buf[head_end..head_end + length]).into_owned())
}

/// Reads one request (head and `content-length` body); returns the body.
async fn read_request(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 2048];
    loop {
        if let Some(body) = complete_body(&buf) {
            return Some(body);
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A self-signed certificate for `127.0.0.1` and `localhost` (ECDSA P-256,
/// not a CA, valid 2020–2120), and its key. Test material only, shared with
/// the test OpenID provider (`tests/peers/oidc/tls/`).
pub const TLS_CERT_PEM: &str = include_str!("../../../../tests/peers/oidc/tls/cert.pem");
const TLS_KEY_PEM: &str = include_str!("../../../../tests/peers/oidc/tls/key.pem");

struct TlsShared {
    status: AtomicU16,
    bodies: Mutex<Vec<String>>,
    stop: AtomicBool,
}

/// An HTTPS endpoint on 127.0.0.1 answering every request with a fixed status
/// and an empty body (one request per connection, blocking threads). Serves
/// [`TLS_CERT_PEM`]; reach it with [`tls_client`].
pub struct TlsEndpoint {
    url: String,
    addr: SocketAddr,
    shared: Arc<TlsShared>,
}

impl TlsEndpoint {
    /// Answers `status` at `https://127.0.0.1:<port>/revoke`.
    pub fn start(status: u16) -> Self {
        let config = Arc::new(tls_server_config());
        let listener = match std::net::TcpListener::bind("127.0.0.1:0") {
            Ok(l) => l,
            Err(e) => panic!("bind TLS endpoint: {e}"),
        };
        let addr = match listener.local_addr() {
            Ok(a) => a,
            Err(e) => panic!("TLS endpoint address: {e}"),
        };
        let shared = Arc::new(TlsShared {
            status: AtomicU16::new(status),
            bodies: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let accept = Arc::clone(&shared);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accept.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (config, shared) = (Arc::clone(&config), Arc::clone(&accept));
                std::thread::spawn(move || tls_exchange(stream, config, &shared));
            }
        });
        Self { url: format!("https://{addr}{REVOKE_PATH}"), addr, shared }
    }

    /// The endpoint's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The bodies of the requests received so far.
    pub fn bodies(&self) -> Vec<String> {
        self.shared.bodies.lock().clone()
    }
}

impl Drop for TlsEndpoint {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(self.addr); // wakes the accept loop
    }
}

fn tls_server_config() -> rustls::ServerConfig {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let cert = CertificateDer::from_pem_slice(TLS_CERT_PEM.as_bytes()).expect("test certificate");
    let key = PrivateKeyDer::from_pem_slice(TLS_KEY_PEM.as_bytes()).expect("test key");
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("TLS server config")
}

fn tls_exchange(stream: std::net::TcpStream, config: Arc<rustls::ServerConfig>, shared: &TlsShared) {
    use std::io::{Read, Write};
    let _ = stream.set_read_timeout(Some(StdDuration::from_secs(10)));
    let Ok(conn) = rustls::ServerConnection::new(config) else { return };
    let mut tls = rustls::StreamOwned::new(conn, stream);
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 2048];
    let body = loop {
        if let Some(body) = complete_body(&buf) {
            break body;
        }
        match tls.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    shared.bodies.lock().push(body);
    let status = shared.status.load(Ordering::SeqCst);
    let answer = format!("HTTP/1.1 {status} Fake\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    let _ = tls.write_all(answer.as_bytes());
    tls.conn.send_close_notify();
    let _ = tls.flush();
}

/// The shared client's settings ([`build_client`]'s), trusting only [`TLS_CERT_PEM`].
pub fn tls_client(config: HttpConfig) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cert = reqwest::Certificate::from_pem(TLS_CERT_PEM.as_bytes()).expect("test certificate");
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(config.connect_timeout)
        .timeout(config.request_timeout)
        .tls_certs_only([cert])
        .build()
        .expect("TLS test client")
}
