//! The OIDC [`Refresher`]: the refresh_token grant (rotation aware) and
//! RFC 7009 revocation, with the failure mapping of DESIGN.md invariants 2–3.

use async_trait::async_trait;
use openidconnect::core::{CoreErrorResponseType, CoreRevocableToken};
use openidconnect::{RefreshToken, RequestTokenError, RevocationUrl};

use super::{DiscoveryError, OidcBackend, client};
use crate::http::TransportError;
use crate::model::{OidcConfig, Provider, ServerInfo, TokenGrant, Tokens};
use crate::refresh::{RefreshError, Refresher, Revocation};

impl OidcBackend {
    fn config_of<'a>(&self, server: &'a ServerInfo) -> Result<&'a OidcConfig, RefreshError> {
        match &server.provider {
            Provider::Oidc(config) => Ok(config),
            _ => Err(RefreshError::Configuration { detail: "server is not an OIDC server".into() }),
        }
    }
}

#[async_trait]
impl Refresher for OidcBackend {
    async fn refresh(&self, server: &ServerInfo, tokens: &Tokens) -> Result<TokenGrant, RefreshError> {
        let config = self.config_of(server)?;
        let Some(refresh_token) = &tokens.refresh else { return Err(RefreshError::NoRefreshToken) };
        let metadata = self.discover(config).await.map_err(refresh_discovery_error)?;
        let client =
            client(&metadata, config, &config.redirect_uri).map_err(|detail| RefreshError::Configuration { detail })?;
        let token = RefreshToken::new(refresh_token.expose().to_owned());
        let response = client
            .exchange_refresh_token(&token)
            .map_err(|e| RefreshError::Configuration { detail: e.to_string() })?
            .request_async(self.http())
            .await
            .map_err(|e| refresh_error(server, &config.issuer, e))?;
        // A refresh token left out keeps the old one (Tokens::rotated).
        response.grant(&server.id).map_err(|e| {
            tracing::warn!(server = %server.id, issuer = %config.issuer, error = %e, "unusable token response; treated as transient");
            RefreshError::transient(crate::refresh::TransientKind::MalformedResponse)
        })
    }

    async fn revoke(&self, server: &ServerInfo, tokens: &Tokens) -> Result<Revocation, RefreshError> {
        let config = self.config_of(server)?;
        let metadata = self.discover(config).await.map_err(refresh_discovery_error)?;
        let Some(endpoint) = metadata.additional_metadata().revocation_endpoint.clone() else {
            return Ok(Revocation::NotSupported);
        };
        let endpoint = RevocationUrl::new(endpoint)
            .map_err(|e| RefreshError::Configuration { detail: format!("revocation endpoint is not a URL: {e}") })?;
        let client = client(&metadata, config, &config.redirect_uri)
            .map_err(|detail| RefreshError::Configuration { detail })?
            .set_revocation_url(endpoint);
        // Revoking the refresh token ends the whole grant (RFC 7009 §2.1).
        let token: CoreRevocableToken = match &tokens.refresh {
            Some(refresh) => RefreshToken::new(refresh.expose().to_owned()).into(),
            None => openidconnect::AccessToken::new(tokens.access.expose().to_owned()).into(),
        };
        client
            .revoke_token(token)
            .map_err(|e| RefreshError::Configuration { detail: e.to_string() })?
            .request_async(self.http())
            .await
            .map_err(|e| match e {
                RequestTokenError::Request(transport) => transient(transport),
                RequestTokenError::ServerResponse(answer) => {
                    RefreshError::Rejected { detail: format!("revocation refused: {}", answer.error()) }
                }
                other => {
                    tracing::warn!(server = %server.id, error = %other, "unreadable revocation answer");
                    RefreshError::transient(crate::refresh::TransientKind::MalformedResponse)
                }
            })?;
        tracing::info!(server = %server.id, "tokens revoked at the provider");
        Ok(Revocation::Revoked)
    }
}

fn transient(transport: TransportError) -> RefreshError {
    RefreshError::Transient { kind: transport.transient_kind(), retry_after: transport.retry_after() }
}

fn refresh_discovery_error(error: DiscoveryError) -> RefreshError {
    match error {
        DiscoveryError::Unreachable(transport) => transient(transport),
        // A broken discovery document is not the refresh token's fault: back
        // off and retry rather than expiring the session.
        DiscoveryError::Invalid { .. } => RefreshError::transient(crate::refresh::TransientKind::MalformedResponse),
    }
}

fn refresh_error(
    server: &ServerInfo,
    issuer: &str,
    error: RequestTokenError<TransportError, openidconnect::StandardErrorResponse<CoreErrorResponseType>>,
) -> RefreshError {
    match error {
        RequestTokenError::ServerResponse(answer) => {
            let code = answer.error().to_string();
            match answer.error() {
                CoreErrorResponseType::InvalidGrant
                | CoreErrorResponseType::InvalidClient
                | CoreErrorResponseType::UnauthorizedClient => {
                    tracing::warn!(server = %server.id, issuer, error = %code, "provider rejected the refresh token");
                    RefreshError::Rejected { detail: code }
                }
                _ => {
                    tracing::error!(server = %server.id, issuer, error = %code, "refresh request refused as malformed; check the client configuration");
                    RefreshError::Configuration { detail: code }
                }
            }
        }
        RequestTokenError::Request(transport) => transient(transport),
        RequestTokenError::Parse(e, _) => {
            let (at, category) = (e.path().to_string(), e.inner().classify());
            tracing::warn!(server = %server.id, issuer, at, ?category, "unparseable token response; treated as transient");
            RefreshError::transient(crate::refresh::TransientKind::MalformedResponse)
        }
        RequestTokenError::Other(detail) => {
            tracing::warn!(server = %server.id, issuer, %detail, "unexpected token response; treated as transient");
            RefreshError::transient(crate::refresh::TransientKind::MalformedResponse)
        }
    }
}
