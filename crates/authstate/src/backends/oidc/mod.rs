//! The OpenID Connect backend: discovery (cached, issuer checked), the
//! authorization-code + PKCE login, the refresh_token grant and RFC 7009
//! revocation, all through `openidconnect` over the crate's one reqwest.
//!
//! Guarantees: the issuer of the discovery document equals the configured
//! issuer; ID tokens are checked for signature, issuer, audience, nonce and
//! expiry (by the injected clock); `invalid_grant`/`invalid_client` are the
//! only definitive refresh failures, everything transport-related is
//! transient (DESIGN.md invariants 2 and 3).

mod answer;
mod login;
mod loopback;
mod refresh;

use std::collections::HashMap;
use std::sync::Arc;

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreErrorResponseType,
    CoreGenderClaim, CoreGrantType, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm,
    CoreResponseMode, CoreResponseType, CoreRevocableToken, CoreRevocationErrorResponse, CoreSubjectIdentifierType,
    CoreTokenIntrospectionResponse,
};
use openidconnect::{
    AdditionalProviderMetadata, ClientId, EmptyAdditionalClaims, IssuerUrl, ProviderMetadata, RedirectUrl,
    StandardErrorResponse,
};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

pub use login::Callback;
pub use loopback::{LoopbackError, LoopbackReceiver};

use crate::clock::SharedClock;
use crate::http::{OAuthHttp, TransportError};
use crate::model::OidcConfig;

/// How long a discovery document (and its key set) is trusted before it is fetched again.
pub const DISCOVERY_TTL: Duration = Duration::hours(1);

/// Discovery fields `openidconnect` does not model: RFC 7009's endpoint.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RevocationMetadata {
    /// The RFC 7009 revocation endpoint, when the provider has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
}

impl AdditionalProviderMetadata for RevocationMetadata {}

/// A provider's discovery document with the revocation endpoint.
pub type Metadata = ProviderMetadata<
    RevocationMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// Why discovery failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// The provider could not be reached or answered 5xx/429: try again later.
    #[error("identity provider unreachable: {0}")]
    Unreachable(TransportError),
    /// The document is invalid, or names another issuer: a configuration problem.
    #[error("discovery at {url} failed: {detail}")]
    Invalid {
        /// The discovery URL.
        url: String,
        /// What was wrong.
        detail: String,
    },
}

struct Cached {
    metadata: Arc<Metadata>,
    fetched_at: OffsetDateTime,
}

/// The OIDC backend. One per manager; cheap to share as `Arc`.
pub struct OidcBackend {
    http: OAuthHttp,
    clock: SharedClock,
    discovered: Mutex<HashMap<String, Cached>>,
}

impl std::fmt::Debug for OidcBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcBackend").field("cached_issuers", &self.discovered.lock().len()).finish_non_exhaustive()
    }
}

impl OidcBackend {
    /// A backend sending through `http`, dating everything by `clock`.
    pub fn new(http: reqwest::Client, clock: SharedClock) -> Self {
        Self { http: OAuthHttp::new(http), clock, discovered: Mutex::new(HashMap::new()) }
    }

    /// The provider's metadata, from the cache when younger than [`DISCOVERY_TTL`].
    pub async fn discover(&self, config: &OidcConfig) -> Result<Arc<Metadata>, DiscoveryError> {
        let now = self.clock.now();
        if let Some(hit) = self.discovered.lock().get(&config.issuer)
            && now - hit.fetched_at < DISCOVERY_TTL
            && hit.fetched_at <= now
        {
            return Ok(Arc::clone(&hit.metadata));
        }
        let url = discovery_url(&config.issuer);
        let issuer = IssuerUrl::new(config.issuer.clone())
            .map_err(|e| DiscoveryError::Invalid { url: url.clone(), detail: format!("issuer is not a URL: {e}") })?;
        let metadata = Metadata::discover_async(issuer, &self.http).await.map_err(|e| {
            let error = discovery_error(&url, e);
            tracing::warn!(issuer = %config.issuer, discovery = %url, error = %error, "OIDC discovery failed");
            error
        })?;
        let metadata = Arc::new(metadata);
        tracing::debug!(issuer = %config.issuer, "OIDC discovery fetched");
        self.discovered
            .lock()
            .insert(config.issuer.clone(), Cached { metadata: Arc::clone(&metadata), fetched_at: now });
        Ok(metadata)
    }

    /// Forgets the cached discovery of `issuer` (after a key rotation).
    pub fn forget(&self, issuer: &str) {
        self.discovered.lock().remove(issuer);
    }

    fn clock(&self) -> &SharedClock {
        &self.clock
    }

    fn http(&self) -> &OAuthHttp {
        &self.http
    }
}

/// The public client for `config`, redirecting to `redirect_uri`.
fn client(metadata: &Metadata, config: &OidcConfig, redirect_uri: &str) -> Result<OidcClient, String> {
    let redirect = RedirectUrl::new(redirect_uri.to_owned()).map_err(|e| format!("redirect URI is not a URL: {e}"))?;
    Ok(OidcClient::from_provider_metadata(metadata.clone(), ClientId::new(config.client_id.clone()), None)
        .set_redirect_uri(redirect))
}

/// `openidconnect`'s core client, reading token answers as [`answer::TokenAnswer`].
type OidcClient = openidconnect::Client<
    EmptyAdditionalClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    answer::TokenAnswer,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

fn discovery_url(issuer: &str) -> String {
    format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'))
}

fn discovery_error(url: &str, error: openidconnect::DiscoveryError<TransportError>) -> DiscoveryError {
    use openidconnect::DiscoveryError as D;
    match error {
        D::Request(transport) => DiscoveryError::Unreachable(transport),
        D::Response(status, _, _) if status.is_server_error() || status.as_u16() == 429 => {
            DiscoveryError::Unreachable(TransportError::Status { status: status.as_u16(), retry_after: None })
        }
        D::Response(status, _, detail) => {
            DiscoveryError::Invalid { url: url.to_owned(), detail: format!("answered {status}: {detail}") }
        }
        D::Parse(e) => DiscoveryError::Invalid { url: url.to_owned(), detail: format!("unparseable document: {e}") },
        D::Validation(detail) => DiscoveryError::Invalid { url: url.to_owned(), detail },
        D::UrlParse(e) => DiscoveryError::Invalid { url: url.to_owned(), detail: e.to_string() },
        D::Other(detail) => DiscoveryError::Invalid { url: url.to_owned(), detail },
        other => DiscoveryError::Invalid { url: url.to_owned(), detail: other.to_string() },
    }
}
