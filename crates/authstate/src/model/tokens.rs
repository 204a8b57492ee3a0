//! Tokens and the secrets inside them. Every secret is a [`Secret`], whose
//! `Debug` and `Display` never show the value.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// A secret string (token, verifier, password). Formatting prints
/// `Secret(…redacted…)`; only [`Secret::expose`] reveals the value.
/// Clones share the value (no copy), so handing out a token is cheap.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<str>);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(Arc::from(value.into()))
    }

    /// The secret value. Call only to put it on the wire or in the secret store.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::new)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…redacted…)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("…redacted…")
    }
}

/// What a backend hands back from a login or refresh, before it is dated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrant {
    /// The access token.
    pub access: Secret,
    /// A refresh token, if the server issued one (rotation issues a new one each time).
    pub refresh: Option<Secret>,
    /// An OpenID Connect ID token.
    pub id_token: Option<Secret>,
    /// Lifetime of the access token in seconds, as the server said (`expires_in`).
    pub expires_in: Option<i64>,
}

impl TokenGrant {
    /// A grant with an access token only.
    pub fn access_only(access: impl Into<String>) -> Self {
        Self { access: Secret::new(access), refresh: None, id_token: None, expires_in: None }
    }
}

/// A session's tokens. Expiry is computed from the local receipt time plus
/// `expires_in`, never from a server timestamp: device clocks lie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokens {
    /// The access token.
    pub access: Secret,
    /// The refresh token, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh: Option<Secret>,
    /// The OpenID Connect ID token, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<Secret>,
    /// When these tokens were received, by the local clock.
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    /// When the access token expires, by the local clock; `None` if the server gave no lifetime.
    #[serde(default, with = "time::serde::rfc3339::option", skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<OffsetDateTime>,
}

impl Tokens {
    /// Dates a fresh grant received at `now`.
    pub fn from_grant(grant: TokenGrant, now: OffsetDateTime) -> Self {
        let expires_at = grant.expires_in.map(|secs| now.saturating_add(Duration::seconds(secs.max(0))));
        Self { access: grant.access, refresh: grant.refresh, id_token: grant.id_token, received_at: now, expires_at }
    }

    /// The tokens after a refresh: the grant's values, keeping the old refresh
    /// token when the server did not send a new one (no rotation), and the old
    /// ID token likewise.
    pub fn rotated(&self, grant: TokenGrant, now: OffsetDateTime) -> Self {
        let refresh = grant.refresh.clone().or_else(|| self.refresh.clone());
        let id_token = grant.id_token.clone().or_else(|| self.id_token.clone());
        let mut next = Self::from_grant(grant, now);
        next.refresh = refresh;
        next.id_token = id_token;
        next
    }

    /// Whether the access token has expired at `now`.
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    /// Whether the access token expires within `threshold` of `now` (or already has).
    pub fn expires_within(&self, now: OffsetDateTime, threshold: Duration) -> bool {
        self.expires_at.is_some_and(|at| at - now <= threshold)
    }

    /// When the access token should be refreshed before use: `threshold`
    /// before expiry, but never earlier than half its lifetime, so a token
    /// that lives less than the threshold is still used for a while instead of
    /// being refreshed on every call. `None` when the expiry is unknown.
    pub fn refresh_due_at(&self, threshold: Duration) -> Option<OffsetDateTime> {
        let expires_at = self.expires_at?;
        let lifetime = (expires_at - self.received_at).max(Duration::ZERO);
        Some(expires_at.saturating_sub(threshold.min(lifetime / 2)))
    }

    /// Whether the access token is due for a refresh at `now` (see [`Tokens::refresh_due_at`]).
    pub fn refresh_due(&self, now: OffsetDateTime, threshold: Duration) -> bool {
        self.refresh_due_at(threshold).is_some_and(|at| at <= now)
    }

    /// Seconds until the access token expires (negative once expired), if known.
    pub fn expires_in(&self, now: OffsetDateTime) -> Option<i64> {
        self.expires_at.map(|at| (at - now).whole_seconds())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn grant(access: &str, refresh: Option<&str>, expires_in: Option<i64>) -> TokenGrant {
        TokenGrant { access: Secret::new(access), refresh: refresh.map(Secret::new), id_token: None, expires_in }
    }

    #[test]
    fn secrets_never_show_in_debug_or_display() {
        let now = datetime!(2026-01-01 00:00 UTC);
        let t = Tokens::from_grant(grant("acc-SECRET", Some("ref-SECRET"), Some(60)), now);
        let shown = format!("{t:?} {} {:?}", t.access, t.refresh);
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn expiry_is_local_receipt_plus_expires_in() {
        let now = datetime!(2026-01-01 00:00 UTC);
        let t = Tokens::from_grant(grant("a", None, Some(600)), now);
        assert_eq!(t.expires_at, Some(datetime!(2026-01-01 00:10 UTC)));
        assert!(!t.is_expired(now + Duration::seconds(599)));
        assert!(t.is_expired(now + Duration::seconds(600)));
        assert!(t.expires_within(now + Duration::seconds(300), Duration::seconds(300)));
        assert!(!t.expires_within(now + Duration::seconds(299), Duration::seconds(300)));
        // A token living 600 s is due 300 s before expiry (= half-life); 100 s
        // before with a 100 s threshold; one living 60 s at half-life.
        assert!(t.refresh_due(now + Duration::seconds(300), Duration::seconds(300)));
        assert!(!t.refresh_due(now + Duration::seconds(299), Duration::seconds(300)));
        assert!(t.refresh_due(now + Duration::seconds(500), Duration::seconds(100)));
        assert!(!t.refresh_due(now + Duration::seconds(499), Duration::seconds(100)));
        let short = Tokens::from_grant(TokenGrant { expires_in: Some(60), ..TokenGrant::access_only("a") }, now);
        assert!(!short.refresh_due(now + Duration::seconds(29), Duration::seconds(300)));
        assert!(short.refresh_due(now + Duration::seconds(30), Duration::seconds(300)));
        assert_eq!(t.expires_in(now), Some(600));
        let forever = Tokens::from_grant(grant("a", None, None), now);
        assert!(!forever.is_expired(now + Duration::days(3650)));
        let negative = Tokens::from_grant(grant("a", None, Some(-5)), now);
        assert!(negative.is_expired(now));
    }

    #[test]
    fn rotation_keeps_the_old_refresh_token_when_none_is_returned() {
        let now = datetime!(2026-01-01 00:00 UTC);
        let t = Tokens::from_grant(grant("a1", Some("r1"), Some(60)), now);
        let kept = t.rotated(grant("a2", None, Some(60)), now);
        assert_eq!(kept.refresh, Some(Secret::new("r1")));
        let rotated = t.rotated(grant("a3", Some("r2"), Some(60)), now);
        assert_eq!(rotated.refresh, Some(Secret::new("r2")));
        assert_eq!(rotated.access, Secret::new("a3"));
    }
}
