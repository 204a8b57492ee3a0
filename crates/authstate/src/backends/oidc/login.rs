//! The browser half of an OIDC login: the authorization URL (PKCE S256,
//! state, nonce, `offline_access` with `prompt=consent`), reading the
//! callback, and the code exchange with ID token validation.

use openidconnect::core::{CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType};
use openidconnect::{AuthorizationCode, CsrfToken, Nonce, PkceCodeChallenge, RequestTokenError, Scope, TokenResponse};
use url::Url;

use super::{DiscoveryError, OidcBackend, client};
use crate::http::TransportError;
use crate::login::LoginError;
use crate::model::{OidcConfig, Secret, TokenGrant};
use crate::preauth::PreAuthState;

impl From<DiscoveryError> for LoginError {
    fn from(error: DiscoveryError) -> Self {
        match error {
            DiscoveryError::Unreachable(transport) => Self::Unreachable(transport),
            invalid @ DiscoveryError::Invalid { .. } => Self::Configuration(invalid.to_string()),
        }
    }
}

/// The parameters of a redirect back from the provider. Never logged: the
/// code is a credential.
#[derive(Clone, PartialEq, Eq)]
pub struct Callback {
    /// Where the browser was sent (the URL without its query).
    pub target: Url,
    /// `state`.
    pub state: Option<String>,
    /// `code`.
    pub code: Option<Secret>,
    /// `error`.
    pub error: Option<String>,
    /// `error_description`.
    pub error_description: Option<String>,
    /// `iss` (RFC 9207).
    pub issuer: Option<String>,
}

impl std::fmt::Debug for Callback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Callback")
            .field("target", &self.target.as_str())
            .field("has_state", &self.state.is_some())
            .field("has_code", &self.code.is_some())
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl Callback {
    /// Reads a callback URL (query parameters, or a fragment for providers
    /// that answer that way).
    pub fn parse(callback_url: &str) -> Result<Self, LoginError> {
        let mut url =
            Url::parse(callback_url.trim()).map_err(|e| LoginError::InvalidCallback(format!("not a URL: {e}")))?;
        let params: Vec<(String, String)> = match url.query() {
            Some(_) => url.query_pairs().into_owned().collect(),
            None => url
                .fragment()
                .map(|f| url::form_urlencoded::parse(f.as_bytes()).into_owned().collect())
                .unwrap_or_default(),
        };
        let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let callback = Self {
            state: get("state"),
            code: get("code").map(Secret::new),
            error: get("error"),
            error_description: get("error_description"),
            issuer: get("iss"),
            target: {
                url.set_query(None);
                url.set_fragment(None);
                url
            },
        };
        Ok(callback)
    }

    /// Whether this callback arrived at `redirect_uri` (scheme, host, port
    /// and path equal; the query is ignored).
    pub fn arrived_at(&self, redirect_uri: &str) -> bool {
        let Ok(mut expected) = Url::parse(redirect_uri) else { return false };
        expected.set_query(None);
        expected.set_fragment(None);
        expected == self.target
    }
}

impl OidcBackend {
    /// The authorization URL for the pending login `pre`: code flow, PKCE
    /// S256, `state`, `nonce`, `openid offline_access` plus the configured
    /// scopes, and `prompt=consent` (without it some providers, oidc-provider
    /// among them, drop `offline_access` and issue no refresh token).
    pub async fn authorization_url(&self, config: &OidcConfig, pre: &PreAuthState) -> Result<Url, LoginError> {
        let metadata = self.discover(config).await?;
        let redirect = pre.redirect_uri().unwrap_or(&config.redirect_uri);
        let client = client(&metadata, config, redirect).map_err(LoginError::Configuration)?;
        let challenge = PkceCodeChallenge::from_code_verifier_sha256(&pre.oauth2_pkce_verifier());
        let state = pre.csrf_state().expose().to_owned();
        let nonce = pre.nonce().expose().to_owned();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || CsrfToken::new(state),
                move || Nonce::new(nonce),
            )
            .set_pkce_challenge(challenge)
            .add_scope(Scope::new("offline_access".into()))
            .add_prompt(CoreAuthPrompt::Consent);
        for scope in config.scopes.iter().filter(|s| !matches!(s.as_str(), "openid" | "offline_access")) {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, _, _) = request.url();
        Ok(url)
    }

    /// Exchanges `code` with `pre`'s PKCE verifier and validates the ID token
    /// (signature, issuer, audience, nonce, expiry by the injected clock).
    pub async fn exchange_code(
        &self,
        config: &OidcConfig,
        pre: &PreAuthState,
        code: &Secret,
    ) -> Result<TokenGrant, LoginError> {
        let metadata = self.discover(config).await?;
        let redirect = pre.redirect_uri().unwrap_or(&config.redirect_uri);
        let client = client(&metadata, config, redirect).map_err(LoginError::Configuration)?;
        let response = client
            .exchange_code(AuthorizationCode::new(code.expose().to_owned()))
            .map_err(|e| LoginError::Configuration(e.to_string()))?
            .set_pkce_verifier(pre.oauth2_pkce_verifier())
            .request_async(self.http())
            .await
            .map_err(code_exchange_error)?;
        // The answer's own shape first (tokens, lifetime), so an odd answer
        // is reported as such rather than as an ID-token failure.
        let grant = response.grant(&config.issuer).map_err(|e| {
            tracing::warn!(issuer = %config.issuer, error = %e, "unusable token response at sign-in");
            LoginError::Configuration(e.to_string())
        })?;
        let id_token = response
            .id_token()
            .ok_or_else(|| LoginError::Configuration("the token response carries no ID token".into()))?;
        let clock = std::sync::Arc::clone(self.clock());
        let verifier = client.id_token_verifier().set_time_fn(move || {
            let nanos = clock.unix_nanos();
            chrono::DateTime::from_timestamp_nanos(i64::try_from(nanos).unwrap_or(i64::MAX))
        });
        let nonce = Nonce::new(pre.nonce().expose().to_owned());
        if let Err(error) = id_token.claims(&verifier, &nonce) {
            tracing::warn!(issuer = %config.issuer, error = %error, "ID token rejected at sign-in");
            return Err(LoginError::InvalidIdToken(error.to_string()));
        }
        Ok(grant)
    }
}

fn code_exchange_error(
    error: RequestTokenError<TransportError, openidconnect::StandardErrorResponse<CoreErrorResponseType>>,
) -> LoginError {
    match error {
        RequestTokenError::ServerResponse(answer) => {
            let detail = answer.error_description().cloned().unwrap_or_else(|| answer.error().to_string());
            match answer.error() {
                CoreErrorResponseType::InvalidGrant => LoginError::CodeRejected(detail),
                _ => LoginError::Configuration(format!("{}: {detail}", answer.error())),
            }
        }
        RequestTokenError::Request(transport) => LoginError::Unreachable(transport),
        // An answer that arrived whole but does not read as a token (or
        // error) response: the server's fault, and retrying will not help.
        // Only the field is named: serde's message may quote a value.
        RequestTokenError::Parse(e, _) => {
            LoginError::Configuration(format!("the server's answer is invalid at `{}`", e.path()))
        }
        RequestTokenError::Other(detail) => LoginError::Unreachable(TransportError::Body { detail }),
    }
}

#[cfg(test)]
mod tests {
    use super::{Callback, LoginError};

    #[test]
    fn reads_a_code_callback_and_where_it_arrived() {
        let c = Callback::parse("http://127.0.0.1:5555/callback?code=abc&state=s1&iss=http%3A%2F%2F127.0.0.1%3A4000")
            .expect("parses");
        assert_eq!(c.code.as_ref().map(|c| c.expose().to_owned()).as_deref(), Some("abc"));
        assert_eq!(c.state.as_deref(), Some("s1"));
        assert_eq!(c.issuer.as_deref(), Some("http://127.0.0.1:4000"));
        assert!(c.arrived_at("http://127.0.0.1:5555/callback"));
        assert!(!c.arrived_at("http://127.0.0.1:5556/callback"), "another port");
        assert!(!c.arrived_at("http://127.0.0.1:5555/other"), "another path");
        assert!(!c.arrived_at("not a url"));
        assert!(!format!("{c:?}").contains("abc"), "the code never reaches Debug");
    }

    #[test]
    fn reads_an_error_callback_and_a_fragment() {
        let c = Callback::parse("app://cb?error=access_denied&error_description=End-User+aborted&state=s").expect("ok");
        assert_eq!(c.error.as_deref(), Some("access_denied"));
        assert_eq!(c.error_description.as_deref(), Some("End-User aborted"));
        let f = Callback::parse("app://cb#code=x&state=y").expect("ok");
        assert_eq!(f.state.as_deref(), Some("y"));
        assert!(matches!(Callback::parse("::nope"), Err(LoginError::InvalidCallback(_))));
    }
}
