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

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

pub(crate) use adapter::retry_after_from;
pub use adapter::{OAuthHttp, TransportError};
pub use authed::{AuthedClient, FailureReason, HttpFailure};
pub use funnel::{Challenge, ResponseVerdict};

/// Timeouts and trust of the shared HTTP client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// Limit for establishing a connection.
    pub connect_timeout: Duration,
    /// Limit for a whole request, from sending to the end of the body.
    pub request_timeout: Duration,
    /// PEM certificates trusted in addition to the platform's roots (a
    /// company CA, a development provider's self-signed certificate).
    pub extra_roots_pem: Vec<String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            extra_roots_pem: Vec::new(),
        }
    }
}

impl HttpConfig {
    /// Also trusts the PEM certificate `pem`.
    pub fn trusting(mut self, pem: impl Into<String>) -> Self {
        self.extra_roots_pem.push(pem.into());
        self
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
/// provider (installed as the process default unless the host installed one)
/// verifying against the platform's roots plus `config`'s, no redirects
/// followed (token endpoints must not redirect; following them invites SSRF),
/// and the timeouts of `config`.
pub fn build_client(config: HttpConfig) -> Result<reqwest::Client, HttpSetupError> {
    // Err means a provider is already installed; reqwest then uses that one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let roots = extra_roots(&config)?;
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(config.connect_timeout)
        .timeout(config.request_timeout)
        .user_agent(concat!("authstate/", env!("CARGO_PKG_VERSION")));
    if !roots.is_empty() {
        builder = builder.tls_certs_merge(roots);
    }
    builder.build().map_err(|e| HttpSetupError { detail: e.to_string() })
}

/// Checks `config` the way [`build_client`] will, without building the
/// client (which loads the platform's root certificates): for a host that
/// builds the client only when it first needs the network, yet wants a bad
/// extra root refused up front.
pub fn check_config(config: &HttpConfig) -> Result<(), HttpSetupError> {
    extra_roots(config).map(drop)
}

/// `config`'s extra roots, each checked to hold a certificate.
fn extra_roots(config: &HttpConfig) -> Result<Vec<reqwest::Certificate>, HttpSetupError> {
    let mut roots = Vec::with_capacity(config.extra_roots_pem.len());
    for pem in &config.extra_roots_pem {
        // reqwest accepts any text here and fails later, at the handshake:
        // refuse now what holds no certificate.
        let certs = CertificateDer::pem_slice_iter(pem.as_bytes()).collect::<Result<Vec<_>, _>>();
        if !certs.is_ok_and(|certs| !certs.is_empty()) {
            return Err(HttpSetupError { detail: "an extra root certificate is not a PEM certificate".into() });
        }
        let cert = reqwest::Certificate::from_pem(pem.as_bytes())
            .map_err(|e| HttpSetupError { detail: format!("an extra root certificate is not PEM: {e}") })?;
        roots.push(cert);
    }
    Ok(roots)
}
