//! A loopback redirect receiver for desktop and CLI hosts (RFC 8252 §7.3):
//! listens on 127.0.0.1 on an ephemeral port, answers the browser's one
//! callback request with a short page, and hands the callback URL back.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::cancel::{CancelReason, CancelToken};

/// The largest request head read from the browser.
const MAX_REQUEST_BYTES: usize = 16 * 1024;

const DONE_PAGE: &str = "<!doctype html><meta charset=utf-8><title>Signed in</title>\
<p>You can close this window and return to the app.</p>";

/// Why the loopback receiver failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoopbackError {
    /// No port could be opened on 127.0.0.1.
    #[error("cannot listen on 127.0.0.1: {0}")]
    Bind(String),
    /// Accepting or reading the browser's request failed.
    #[error("loopback receiver failed: {0}")]
    Io(String),
    /// The wait was cancelled.
    #[error("waiting for the sign-in callback was cancelled: {0}")]
    Cancelled(CancelReason),
}

/// Receives one OAuth redirect on `http://127.0.0.1:<port><path>`.
#[derive(Debug)]
pub struct LoopbackReceiver {
    listener: TcpListener,
    path: String,
    port: u16,
}

impl LoopbackReceiver {
    /// Listens on 127.0.0.1 with an ephemeral port, for redirects to `path`
    /// (for example `/callback`).
    pub async fn bind(path: &str) -> Result<Self, LoopbackError> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.map_err(|e| LoopbackError::Bind(e.to_string()))?;
        let port = listener.local_addr().map_err(|e| LoopbackError::Bind(e.to_string()))?.port();
        let path = if path.starts_with('/') { path.to_owned() } else { format!("/{path}") };
        Ok(Self { listener, path, port })
    }

    /// The redirect URI to register with the login (`http://127.0.0.1:<port><path>`).
    pub fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}{}", self.port, self.path)
    }

    /// Waits for the browser's request to the redirect path, answers it, and
    /// returns the full callback URL. Requests to other paths get a 404 and
    /// the wait goes on.
    pub async fn receive(self, cancel: Option<&CancelToken>) -> Result<String, LoopbackError> {
        let wait = async {
            loop {
                let (stream, _) = self.listener.accept().await.map_err(|e| LoopbackError::Io(e.to_string()))?;
                if let Some(target) = self.answer(stream).await? {
                    return Ok(format!("http://127.0.0.1:{}{}", self.port, target));
                }
            }
        };
        match cancel {
            None => wait.await,
            Some(token) => tokio::select! {
                out = wait => out,
                reason = token.cancelled() => Err(LoopbackError::Cancelled(reason)),
            },
        }
    }

    /// Reads one request head; answers it; returns its target if it is the callback.
    async fn answer(&self, mut stream: TcpStream) -> Result<Option<String>, LoopbackError> {
        let mut head = Vec::with_capacity(1024);
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_REQUEST_BYTES {
            let n = stream.read(&mut buf).await.map_err(|e| LoopbackError::Io(e.to_string()))?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
        let line = String::from_utf8_lossy(line);
        let mut parts = line.split_whitespace();
        let target = match (parts.next(), parts.next()) {
            (Some("GET"), Some(target)) if target.split('?').next() == Some(self.path.as_str()) => {
                Some(target.to_owned())
            }
            _ => None,
        };
        let (status, body) = if target.is_some() { ("200 OK", DONE_PAGE) } else { ("404 Not Found", "not found") };
        let reply = format!(
            "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        // The browser may have gone; the callback URL is what matters.
        let _ = stream.write_all(reply.as_bytes()).await;
        let _ = stream.shutdown().await;
        Ok(target)
    }
}
