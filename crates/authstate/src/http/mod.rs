//! The HTTP side: one shared reqwest client (rustls with the `ring`
//! provider), the adapter that lets `oauth2`/`openidconnect` use it, the
//! response funnel for hosts with their own HTTP stack, and [`AuthedClient`]
//! for Rust hosts.
//!
//! Guarantees: a 401 leads to at most one refresh and one retry; a 403 never
//! touches the session (DESIGN.md invariant 7); transport failures are
//! classified as transient and never change state (invariant 2).

mod adapter;
mod authed;
mod funnel;

use std::time::Duration;

pub use adapter::{OAuthHttp, TransportError};
pub use authed::{AuthedClient, FailureReason, HttpFailure};
pub use funnel::{Challenge, ResponseVerdict};

/// Timeouts of the shared HTTP client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpConfig {
    /// Limit for establishing a connection.
    pub connect_timeout: Duration,
    /// Limit for a whole request, from sending to the end of the body.
    pub request_timeout: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self { connect_timeout: Duration::from_secs(10), request_timeout: Duration::from_secs(30) }
    }
}

/// The shared HTTP client could not be built (no TLS roots, bad configuration).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot build the HTTP client: {detail}")]
pub struct HttpSetupError {
    /// What failed.
    pub detail: String,
}

/// Builds the HTTP client every backend shares: rustls with the `ring`
/// provider (installed as the process default unless the host installed one),
/// no redirects followed (token endpoints must not redirect; following them
/// invites SSRF), and the timeouts of `config`.
pub fn build_client(config: HttpConfig) -> Result<reqwest::Client, HttpSetupError> {
    // Err means a provider is already installed; reqwest then uses that one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(config.connect_timeout)
        .timeout(config.request_timeout)
        .user_agent(concat!("authstate/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| HttpSetupError { detail: e.to_string() })
}
