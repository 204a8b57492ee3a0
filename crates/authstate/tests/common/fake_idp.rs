//! A fake OpenID provider on wiremock, for the faults a real provider will not
//! produce on demand: slow or failing token endpoints, 429 with `Retry-After`,
//! malformed answers, discovery outages, revocation failures.
//!
//! [`FakeIdp`] serves discovery and an empty JWKS (enough for refresh-only
//! tests), a token endpoint and, optionally, an RFC 7009 revocation endpoint.
//! Token responses are mounted per test ([`FakeIdp::on_token`] returns a
//! scoped guard: drop it and the fault is gone). [`RawHttpEndpoint`] is a
//! hand-written HTTP/1.1 endpoint for what wiremock cannot do: a body cut
//! short of its `content-length`, or an answer held until the test releases it.
//! [`TlsEndpoint`] is a tiny HTTPS endpoint (self-signed certificate for
//! 127.0.0.1, trusted by [`tls_client`]) for revocation: `oauth2` refuses to
//! send a revocation request to a plain-HTTP URL. [`signed_in`] builds a
//! manager with the real OIDC backend, memory stores and a manual clock, with
//! one session signed in.
//!
//! Every mock is mounted at wiremock's default priority on purpose: wiremock
//! 0.6.5 sorts its mock list by priority when it handles a request, which
//! invalidates the index a `MockGuard` keeps, so with mixed priorities
//! dropping a scoped mock deactivates a *different* mock.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use authstate::http::{HttpConfig, build_client};
use authstate::model::OidcConfig;
use authstate::refresh::BackoffPolicy;
use authstate::storage::{MemoryStore, SecretStore};
use authstate::{
    Backends, ManagerConfig, ManualClock, Provider, ProviderKind, ServerManager, ServerSession, SessionState,
    TokenGrant,
};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockGuard, MockServer, Request, Respond, ResponseTemplate};

/// The public client the fake provider serves.
pub const CLIENT_ID: &str = "authstate-faults";
/// Where the provider sends the browser back (unused by refresh-only tests).
pub const REDIRECT_URI: &str = "http://127.0.0.1/callback";
/// The token endpoint's path.
pub const TOKEN_PATH: &str = "/token";
/// The revocation endpoint's path.
pub const REVOKE_PATH: &str = "/revoke";
/// The discovery document's path.
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
/// The key set's path.
pub const JWKS_PATH: &str = "/jwks";
/// The alias of the session [`signed_in`] creates.
pub const ALIAS: &str = "api";
/// Where that session's tokens live in the secret store.
pub const TOKENS_KEY: &str = "authstate.tokens.api";

/// How the fake provider is set up.
#[derive(Debug, Clone)]
pub struct IdpOptions {
    /// Advertise (and serve) a revocation endpoint.
    pub revocation: bool,
    /// Mount discovery and JWKS at start (else call [`FakeIdp::mount_discovery`]).
    pub discovery: bool,
    /// Advertise this token endpoint instead of the provider's own (e.g. a [`RawHttpEndpoint`]).
    pub token_endpoint: Option<String>,
    /// Advertise this revocation endpoint instead of the provider's own
    /// plain-HTTP one (e.g. a [`TlsEndpoint`]: `oauth2` revokes over HTTPS only).
    pub revocation_endpoint: Option<String>,
}

impl Default for IdpOptions {
    fn default() -> Self {
        Self { revocation: true, discovery: true, token_endpoint: None, revocation_endpoint: None }
    }
}

/// A wiremock OpenID provider.
pub struct FakeIdp {
    pub server: MockServer,
    options: IdpOptions,
}

impl FakeIdp {
    /// Discovery, JWKS and a revocation endpoint; no token response yet.
    pub async fn start() -> Self {
        Self::start_with(IdpOptions::default()).await
    }

    /// A provider set up by `options`.
    pub async fn start_with(options: IdpOptions) -> Self {
        let idp = Self { server: MockServer::start().await, options };
        if idp.options.discovery {
            idp.mount_discovery().await;
        }
        idp
    }

    /// The issuer URL (no trailing slash), as configured and as in the document.
    pub fn issuer(&self) -> String {
        self.server.uri()
    }

    /// The OIDC configuration pointing at this provider.
    pub fn config(&self) -> OidcConfig {
        OidcConfig {
            issuer: self.issuer(),
            client_id: CLIENT_ID.into(),
            redirect_uri: REDIRECT_URI.into(),
            scopes: vec![],
        }
    }

    /// The provider descriptor for `add_server`.
    pub fn provider(&self) -> Provider {
        Provider::Oidc(self.config())
    }

    /// The discovery document this provider serves.
    pub fn discovery_document(&self) -> Value {
        let base = self.issuer();
        let token_endpoint = self.options.token_endpoint.clone().unwrap_or_else(|| format!("{base}{TOKEN_PATH}"));
        let mut doc = json!({
            "issuer": base,
            "authorization_endpoint": format!("{base}/authorize"),
            "token_endpoint": token_endpoint,
            "jwks_uri": format!("{base}{JWKS_PATH}"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        });
        if self.options.revocation {
            let endpoint = self.options.revocation_endpoint.clone().unwrap_or_else(|| format!("{base}{REVOKE_PATH}"));
            doc["revocation_endpoint"] = json!(endpoint);
        }
        doc
    }

    /// Serves discovery and an empty key set, permanently.
    pub async fn mount_discovery(&self) {
        Mock::given(method("GET"))
            .and(path(DISCOVERY_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_json(self.discovery_document()))
            .mount(&self.server)
            .await;
        Mock::given(method("GET"))
            .and(path(JWKS_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "keys": [] })))
            .mount(&self.server)
            .await;
    }

    /// Answers discovery with `response` until the guard is dropped.
    pub async fn on_discovery(&self, response: impl Respond + 'static) -> MockGuard {
        self.scoped("GET", DISCOVERY_PATH, response).await
    }

    /// Answers the token endpoint with `response` until the guard is dropped.
    pub async fn on_token(&self, response: impl Respond + 'static) -> MockGuard {
        self.scoped("POST", TOKEN_PATH, response).await
    }

    /// Answers the revocation endpoint with `response` until the guard is dropped.
    pub async fn on_revoke(&self, response: impl Respond + 'static) -> MockGuard {
        self.scoped("POST", REVOKE_PATH, response).await
    }

    async fn scoped(&self, verb: &str, at: &str, response: impl Respond + 'static) -> MockGuard {
        Mock::given(method(verb)).and(path(at)).respond_with(response).mount_as_scoped(&self.server).await
    }

    /// Every request received at `verb at`, oldest first.
    pub async fn requests_to(&self, verb: &str, at: &str) -> Vec<Request> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.method.as_str() == verb && r.url.path() == at)
            .collect()
    }

    /// Every token request received so far.
    pub async fn token_requests(&self) -> Vec<Request> {
        self.requests_to("POST", TOKEN_PATH).await
    }

    /// How many token requests were received so far.
    pub async fn token_request_count(&self) -> usize {
        self.token_requests().await.len()
    }

    /// Every revocation request received so far.
    pub async fn revocation_requests(&self) -> Vec<Request> {
        self.requests_to("POST", REVOKE_PATH).await
    }

    /// How many discovery requests were received so far.
    pub async fn discovery_request_count(&self) -> usize {
        self.requests_to("GET", DISCOVERY_PATH).await.len()
    }
}

/// A successful token response; `refresh: None` means no rotation.
pub fn token_ok(access: &str, refresh: Option<&str>, expires_in: i64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(token_json(access, refresh, expires_in))
}

/// The JSON of a successful token response.
pub fn token_json(access: &str, refresh: Option<&str>, expires_in: i64) -> Value {
    let mut body = json!({ "access_token": access, "token_type": "Bearer", "expires_in": expires_in });
    if let Some(refresh) = refresh {
        body["refresh_token"] = json!(refresh);
    }
    body
}

/// An OAuth error answer (`{"error": code}`) with `status`.
pub fn token_error(status: u16, code: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({ "error": code }))
}

/// `status` with a raw `body` of content type `mime`.
pub fn status_with_body(status: u16, body: &str, mime: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body.as_bytes().to_vec(), mime)
}

/// 429 with `Retry-After: <seconds>`.
pub fn rate_limited(retry_after_secs: u64) -> ResponseTemplate {
    ResponseTemplate::new(429)
        .insert_header("retry-after", retry_after_secs.to_string().as_str())
        .set_body_json(json!({ "error": "slow_down" }))
}

/// A 200 JSON answer cut off in the middle: `{"access_token":`.
pub fn malformed_json() -> ResponseTemplate {
    status_with_body(200, r#"{"access_token":"#, "application/json")
}

/// A 200 HTML page where JSON was expected (a captive portal, a proxy's error page).
pub fn html_page() -> ResponseTemplate {
    status_with_body(200, "<!doctype html><html><body>Please log in to the Wi-Fi</body></html>", "text/html")
}

/// `response` delayed by `delay` (a slow server).
pub fn slow(response: ResponseTemplate, delay: StdDuration) -> ResponseTemplate {
    response.set_delay(delay)
}

/// The value of the form field `name` in a request's `application/x-www-form-urlencoded` body.
pub fn form_field(request: &Request, name: &str) -> Option<String> {
    url::form_urlencoded::parse(&request.body).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// The `Authorization` header of a request.
pub fn authorization(request: &Request) -> Option<String> {
    request.headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// A responder that reports each request on a channel as it arrives, before
/// answering with its template (and the template's delay): lets a test act
/// while a request is provably in flight, without sleeping.
pub struct Notifying {
    template: ResponseTemplate,
    arrived: mpsc::UnboundedSender<Request>,
}

/// A [`Notifying`] responder and the receiver of its arrivals.
pub fn notifying(template: ResponseTemplate) -> (Notifying, mpsc::UnboundedReceiver<Request>) {
    let (arrived, rx) = mpsc::unbounded_channel();
    (Notifying { template, arrived }, rx)
}

impl Respond for Notifying {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let _ = self.arrived.send(request.clone());
        self.template.clone()
    }
}

/// An HTTP client with a 2 s connect and a 5 s request timeout.
pub fn default_http() -> HttpConfig {
    HttpConfig {
        connect_timeout: StdDuration::from_secs(2),
        request_timeout: StdDuration::from_secs(5),
        ..HttpConfig::default()
    }
}

/// A manager over memory stores and a manual clock, with the real backends,
/// and one session ([`ALIAS`]) signed in.
pub struct IdpHarness {
    pub manager: ServerManager,
    pub session: Arc<ServerSession>,
    pub secrets: MemoryStore,
    pub kv: MemoryStore,
    pub clock: ManualClock,
    pub backends: Backends,
    pub http: reqwest::Client,
}

impl IdpHarness {
    /// The session's access and refresh tokens, if it holds any.
    pub fn held(&self) -> Option<(String, Option<String>)> {
        self.session
            .state()
            .tokens()
            .map(|t| (t.access.expose().to_owned(), t.refresh.as_ref().map(|r| r.expose().to_owned())))
    }

    /// The session's token record in the secret store, if any.
    pub fn stored_tokens(&self) -> Option<String> {
        SecretStore::get(&self.secrets, TOKENS_KEY).ok()
    }

    /// Whether the session is `Active`.
    pub fn is_active(&self) -> bool {
        matches!(self.session.state(), SessionState::Active { .. })
    }
}

/// No delay between refresh attempts: a retry is allowed at once unless the
/// server sent `Retry-After`.
pub fn no_backoff() -> BackoffPolicy {
    BackoffPolicy { initial: time::Duration::ZERO, max: time::Duration::ZERO }
}

/// Signs in a session for `server_url` (provider `provider`) with `grant`,
/// through a client built from `http`, with [`no_backoff`].
pub fn signed_in(provider: Provider, server_url: &str, http: HttpConfig, grant: TokenGrant) -> IdpHarness {
    signed_in_with_backoff(provider, server_url, http, grant, no_backoff())
}

/// Like [`signed_in`], with an explicit backoff policy.
pub fn signed_in_with_backoff(
    provider: Provider,
    server_url: &str,
    http: HttpConfig,
    grant: TokenGrant,
    backoff: BackoffPolicy,
) -> IdpHarness {
    let http = match build_client(http) {
        Ok(c) => c,
        Err(e) => panic!("build client: {e}"),
    };
    signed_in_through(http, provider, server_url, grant, backoff)
}

/// Like [`signed_in`], sending through `http` (e.g. a [`tls_client`]).
pub fn signed_in_through(
    http: reqwest::Client,
    provider: Provider,
    server_url: &str,
    grant: TokenGrant,
    backoff: BackoffPolicy,
) -> IdpHarness {
    let secrets = MemoryStore::new();
    let kv = MemoryStore::new();
    let clock = ManualClock::at_epoch();
    let backends = Backends::new(http.clone(), Arc::new(clock.clone()));
    let config = ManagerConfig::new(Arc::new(secrets.clone()), Arc::new(kv.clone()))
        .with_clock(Arc::new(clock.clone()))
        .with_refreshers(Arc::new(backends.clone()))
        .with_backoff(backoff);
    let manager = match ServerManager::open(config) {
        Ok(m) => m,
        Err(e) => panic!("open manager: {e}"),
    };
    let session = match manager.add_server(server_url, Some(ALIAS), provider) {
        Ok(s) => s,
        Err(e) => panic!("add server: {e}"),
    };
    if let Err(e) = session.sign_in(ProviderKind::Oidc, grant) {
        panic!("sign in: {e}");
    }
    IdpHarness { manager, session, secrets, kv, clock, backends, http }
}
