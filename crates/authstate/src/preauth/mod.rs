//! Pre-auth state: what a login remembers across the browser round-trip, and
//! where the user goes afterwards (DESIGN.md "Pre-auth state and return paths").
//!
//! This module owns three things and guarantees:
//!
//! - [`ReturnTo`]: a return path is a validated same-origin relative path; it
//!   is checked on construction, on deserialisation, and again by
//!   [`PreAuthState::safe_return_to`] when the callback uses it.
//! - [`PreAuthState`]: a fresh PKCE S256 pair, CSRF `state` and nonce, drawn
//!   from `oauth2`'s generators; secrets are [`Secret`]s, so `Debug` never shows
//!   them. Its JSON omits `return_to` when absent and loads entries written
//!   before that field existed.
//! - [`PreAuthStore`]: pending logins live in the secret store (they hold the
//!   PKCE verifier), keyed by `state` so several can be in flight; each is
//!   single-use and expires [`PREAUTH_TTL`] after creation, checked when it is
//!   consumed; `state` is compared in constant time. A locked store is an
//!   error, never "unknown state" (DESIGN.md invariant 12).

mod return_to;
mod store;

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime};

use crate::clock::Clock;
use crate::model::{ProviderKind, Secret, ServerId};

pub use return_to::{ReturnTo, ReturnToError};
pub use store::{PREAUTH_KEY, PREAUTH_TTL, PreAuthError, PreAuthStore};

/// The version of the [`PreAuthState`] JSON shape written by this build.
pub const PREAUTH_SCHEMA_VERSION: u32 = 1;

/// How far in the future an entry's creation time may lie (the clock stepped
/// back a little) before the entry is treated as expired.
pub const PREAUTH_FUTURE_SKEW: Duration = Duration::minutes(5);

fn current_version() -> u32 {
    PREAUTH_SCHEMA_VERSION
}

/// What a login saves before sending the user to the browser, and gets back
/// when the browser returns.
///
/// Built only by [`PreAuthState::new`] (fresh secrets every time) or read back
/// from storage; fields are read through accessors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreAuthState {
    #[serde(default = "current_version")]
    schema_version: u32,
    server: ServerId,
    provider: ProviderKind,
    pkce_verifier: Secret,
    pkce_challenge: String,
    csrf_state: Secret,
    nonce: Secret,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    return_to: Option<ReturnTo>,
    /// The redirect URI sent with the authorization request, when it differs
    /// from the server's configured one (a loopback receiver's ephemeral port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    redirect_uri: Option<String>,
}

impl PreAuthState {
    /// A new pending login for `server`, dated by `clock`, with a fresh PKCE
    /// verifier and S256 challenge, CSRF `state` and nonce.
    pub fn new(server: ServerId, provider: ProviderKind, return_to: Option<ReturnTo>, clock: &dyn Clock) -> Self {
        let (challenge, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
        Self {
            schema_version: PREAUTH_SCHEMA_VERSION,
            server,
            provider,
            pkce_verifier: Secret::new(verifier.secret().as_str()),
            pkce_challenge: challenge.as_str().to_owned(),
            csrf_state: Secret::new(oauth2::CsrfToken::new_random().secret().as_str()),
            nonce: Secret::new(oauth2::CsrfToken::new_random().secret().as_str()),
            created_at: clock.now(),
            return_to,
            redirect_uri: None,
        }
    }

    /// The same login, sent with `redirect_uri` instead of the server's
    /// configured one; the code exchange repeats it, as OAuth requires.
    pub fn with_redirect_uri(mut self, redirect_uri: impl Into<String>) -> Self {
        self.redirect_uri = Some(redirect_uri.into());
        self
    }

    /// The redirect URI this login used, when it overrode the configured one.
    pub fn redirect_uri(&self) -> Option<&str> {
        self.redirect_uri.as_deref()
    }

    /// The JSON shape version this entry was written with.
    pub fn schema_version(&self) -> u32 {
        self.schema_version
    }

    /// The server being signed in to.
    pub fn server(&self) -> &ServerId {
        &self.server
    }

    /// The server's backend kind.
    pub fn provider(&self) -> ProviderKind {
        self.provider
    }

    /// The PKCE code verifier, sent only with the code exchange.
    pub fn pkce_verifier(&self) -> &Secret {
        &self.pkce_verifier
    }

    /// The verifier as the `oauth2` crate takes it for the code exchange.
    pub fn oauth2_pkce_verifier(&self) -> oauth2::PkceCodeVerifier {
        oauth2::PkceCodeVerifier::new(self.pkce_verifier.expose().to_owned())
    }

    /// The PKCE code challenge (`BASE64URL(SHA256(verifier))`), sent in the
    /// authorization request.
    pub fn pkce_challenge(&self) -> &str {
        &self.pkce_challenge
    }

    /// The PKCE challenge method: always `S256`.
    pub fn pkce_challenge_method(&self) -> &'static str {
        "S256"
    }

    /// The CSRF `state` parameter, sent in the authorization request.
    pub fn csrf_state(&self) -> &Secret {
        &self.csrf_state
    }

    /// The OpenID Connect nonce, sent in the authorization request.
    pub fn nonce(&self) -> &Secret {
        &self.nonce
    }

    /// When the login started, by the local clock.
    pub fn created_at(&self) -> OffsetDateTime {
        self.created_at
    }

    /// The stored return path, as saved. Prefer [`PreAuthState::safe_return_to`]
    /// when navigating.
    pub fn return_to(&self) -> Option<&ReturnTo> {
        self.return_to.as_ref()
    }

    /// The return path, validated once more; `None` (and a warning naming the
    /// server) if it no longer passes, so the caller falls back to its default
    /// route.
    pub fn safe_return_to(&self) -> Option<ReturnTo> {
        let return_to = self.return_to.as_ref()?;
        match return_to.revalidate() {
            Ok(()) => Some(return_to.clone()),
            Err(reason) => {
                tracing::warn!(server = %self.server, %reason, "stored return path refused at the callback");
                None
            }
        }
    }

    /// Whether `candidate` is this login's `state`, compared in constant time.
    pub fn matches_state(&self, candidate: &str) -> bool {
        self.csrf_state.expose().as_bytes().ct_eq(candidate.as_bytes()).into()
    }

    /// How long ago the login started, at `now` (negative if the clock moved back).
    pub fn age_at(&self, now: OffsetDateTime) -> Duration {
        now - self.created_at
    }

    /// Whether the entry can no longer be used at `now`: it is [`PREAUTH_TTL`]
    /// old or older (exactly 30 minutes is expired), or dated more than
    /// [`PREAUTH_FUTURE_SKEW`] in the future.
    pub fn is_expired_at(&self, now: OffsetDateTime) -> bool {
        let age = self.age_at(now);
        age >= PREAUTH_TTL || age < -PREAUTH_FUTURE_SKEW
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn server(url: &str) -> ServerId {
        ServerId::parse(url).unwrap()
    }

    #[test]
    fn verifier_and_challenge_satisfy_s256() {
        let clock = ManualClock::at_epoch();
        let s = PreAuthState::new(server("https://a.example"), ProviderKind::Oidc, None, &clock);
        let verifier = s.pkce_verifier().expose();
        assert!((43..=128).contains(&verifier.len()), "verifier length {}", verifier.len());
        assert!(verifier.chars().all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c)));
        let expected = oauth2::PkceCodeChallenge::from_code_verifier_sha256(&s.oauth2_pkce_verifier());
        assert_eq!(s.pkce_challenge(), expected.as_str());
        assert_eq!(expected.method().as_str(), s.pkce_challenge_method());
        assert_ne!(s.pkce_challenge(), verifier);
    }

    #[test]
    fn every_login_gets_fresh_secrets() {
        let clock = ManualClock::at_epoch();
        let a = PreAuthState::new(server("https://a.example"), ProviderKind::Oidc, None, &clock);
        let b = PreAuthState::new(server("https://a.example"), ProviderKind::Oidc, None, &clock);
        assert_ne!(a.pkce_verifier(), b.pkce_verifier());
        assert_ne!(a.csrf_state(), b.csrf_state());
        assert_ne!(a.nonce(), b.nonce());
        assert_ne!(a.csrf_state(), a.nonce());
        assert!(a.csrf_state().expose().len() >= 22);
        assert!(a.matches_state(a.csrf_state().expose()));
        assert!(!a.matches_state(b.csrf_state().expose()));
        assert!(!a.matches_state(""));
    }

    #[test]
    fn debug_shows_no_secret() {
        let clock = ManualClock::at_epoch();
        let s = PreAuthState::new(server("https://a.example"), ProviderKind::Oidc, None, &clock);
        let shown = format!("{s:?}");
        for secret in [s.pkce_verifier(), s.csrf_state(), s.nonce()] {
            assert!(!shown.contains(secret.expose()), "{shown}");
        }
        assert!(shown.contains("redacted"), "{shown}");
        assert!(shown.contains("a.example"), "{shown}");
    }

    #[test]
    fn json_omits_return_to_when_absent_and_keeps_it_when_present() {
        let clock = ManualClock::at_epoch();
        let without = PreAuthState::new(server("https://a.example"), ProviderKind::Oidc, None, &clock);
        let json = serde_json::to_value(&without).unwrap();
        assert!(json.get("return_to").is_none(), "{json}");
        assert_eq!(json["schema_version"], 1);
        assert_eq!(json["created_at"], "2026-01-01T00:00:00Z");

        let to = ReturnTo::parse("/rooms/7?tab=chat").unwrap();
        let with = PreAuthState::new(server("https://a.example"), ProviderKind::Oidc, Some(to.clone()), &clock);
        let json = serde_json::to_value(&with).unwrap();
        assert_eq!(json["return_to"], "/rooms/7?tab=chat");
        let back: PreAuthState = serde_json::from_value(json).unwrap();
        assert_eq!(back, with);
        assert_eq!(back.safe_return_to(), Some(to));
    }

    #[test]
    fn json_written_before_return_to_existed_loads() {
        // Frozen by hand: the shape before `return_to` and `schema_version`.
        let old = r#"{
            "server": "https://a.example/",
            "provider": "oidc",
            "pkce_verifier": "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            "pkce_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "csrf_state": "c3RhdGUtMTIzNDU2Nzg5MA",
            "nonce": "bm9uY2UtMTIzNDU2Nzg5MA",
            "created_at": "2026-01-01T00:00:00Z"
        }"#;
        let s: PreAuthState = serde_json::from_str(old).unwrap();
        assert_eq!(s.return_to(), None);
        assert_eq!(s.safe_return_to(), None);
        assert_eq!(s.schema_version(), PREAUTH_SCHEMA_VERSION);
        assert_eq!(s.server().as_str(), "https://a.example/");
        assert_eq!(s.provider(), ProviderKind::Oidc);
        // The RFC 7636 appendix B example pair.
        let expected = oauth2::PkceCodeChallenge::from_code_verifier_sha256(&s.oauth2_pkce_verifier());
        assert_eq!(s.pkce_challenge(), expected.as_str());
    }

    #[test]
    fn a_tampered_return_to_does_not_load() {
        let clock = ManualClock::at_epoch();
        let s = PreAuthState::new(server("https://a.example"), ProviderKind::Oidc, None, &clock);
        let mut json = serde_json::to_value(&s).unwrap();
        json["return_to"] = "//evil.example".into();
        assert!(serde_json::from_value::<PreAuthState>(json).is_err());
    }

    #[test]
    fn expiry_is_thirty_minutes_exclusive_and_tolerates_small_backward_steps() {
        let clock = ManualClock::at_epoch();
        let s = PreAuthState::new(server("https://a.example"), ProviderKind::Oidc, None, &clock);
        let t0 = s.created_at();
        assert!(!s.is_expired_at(t0));
        assert!(!s.is_expired_at(t0 + Duration::seconds(29 * 60 + 59)));
        assert!(!s.is_expired_at(t0 + PREAUTH_TTL - Duration::nanoseconds(1)));
        assert!(s.is_expired_at(t0 + PREAUTH_TTL));
        assert!(!s.is_expired_at(t0 - PREAUTH_FUTURE_SKEW));
        assert!(s.is_expired_at(t0 - PREAUTH_FUTURE_SKEW - Duration::seconds(1)));
    }
}
