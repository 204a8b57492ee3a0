//! Server identity: a normalised base URL and a short URL-safe alias.

use std::fmt;

use serde::{Deserialize, Serialize};
use url::Url;

/// Why a server URL or alias was refused. Fix the input and try again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServerInputError {
    /// The URL does not parse.
    #[error("server URL is not a valid URL: {0}")]
    Unparsable(String),
    /// Only `https` is accepted, and `http` on a loopback host (127.0.0.1, ::1, localhost).
    #[error("server URL must use https (http is allowed on loopback only), got scheme {0:?}")]
    InsecureScheme(String),
    /// A base URL names a host and a path, nothing else.
    #[error("server URL must not carry {0} (credentials, query and fragment are refused)")]
    UnexpectedPart(&'static str),
    /// The provider's configuration is malformed (issuer, client id, redirect
    /// URI, scopes, endpoint paths).
    #[error("provider configuration is invalid: {0}")]
    InvalidProvider(String),
    /// Aliases are 1 to 32 characters of `a-z`, `0-9`, `-` and `_`, starting with a letter or digit.
    #[error("server alias {0:?} is invalid: use 1-32 characters of a-z, 0-9, '-' or '_'")]
    InvalidAlias(String),
}

/// A server's identity: its base URL, normalised (lowercase host, default port
/// dropped, path ending in `/`). Two spellings of one server compare equal.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ServerId(String);

impl ServerId {
    /// Parses and normalises a base URL.
    pub fn parse(input: &str) -> Result<Self, ServerInputError> {
        let input = input.trim();
        if input.len() > 2048 {
            return Err(ServerInputError::Unparsable("longer than 2048 characters".into()));
        }
        let mut url = Url::parse(input).map_err(|e| ServerInputError::Unparsable(e.to_string()))?;
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            other => return Err(ServerInputError::InsecureScheme(other.to_owned())),
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(ServerInputError::Unparsable("no host".into()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ServerInputError::UnexpectedPart("credentials"));
        }
        if url.query().is_some() {
            return Err(ServerInputError::UnexpectedPart("a query"));
        }
        if url.fragment().is_some() {
            return Err(ServerInputError::UnexpectedPart("a fragment"));
        }
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        Ok(Self(url.into()))
    }

    /// The normalised base URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The base URL as a [`Url`].
    pub fn url(&self) -> Result<Url, ServerInputError> {
        Url::parse(&self.0).map_err(|e| ServerInputError::Unparsable(e.to_string()))
    }

    /// A default alias: the host's first label, made alias-safe.
    pub fn suggested_alias(&self) -> Alias {
        let host = self.url().ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default();
        let first = host.split('.').find(|l| !l.is_empty() && *l != "www" && *l != "api").unwrap_or("server");
        let cleaned: String = first
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
            .take(32)
            .collect();
        Alias::new(&cleaned).unwrap_or_else(|_| Alias("server".into()))
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

impl TryFrom<String> for ServerId {
    type Error = ServerInputError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<ServerId> for String {
    fn from(value: ServerId) -> Self {
        value.0
    }
}

impl fmt::Display for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServerId({})", self.0)
    }
}

/// A short, URL-safe name for a server, used in routes (`/s/{alias}/…`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Alias(String);

impl Alias {
    /// Validates an alias: 1 to 32 characters of `a-z0-9-_`, first one alphanumeric.
    pub fn new(input: &str) -> Result<Self, ServerInputError> {
        let ok = (1..=32).contains(&input.len())
            && input.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
            && input.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
        if ok {
            Ok(Self(input.to_owned()))
        } else {
            let shown: String = input.chars().take(40).collect();
            Err(ServerInputError::InvalidAlias(shown))
        }
    }

    /// The alias text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Alias {
    type Error = ServerInputError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(&value)
    }
}

impl From<Alias> for String {
    fn from(value: Alias) -> Self {
        value.0
    }
}

impl fmt::Display for Alias {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Alias {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Alias({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_normalise_to_one_identity() {
        let a = ServerId::parse("HTTPS://Api.Example.COM:443/v1").unwrap();
        let b = ServerId::parse("https://api.example.com/v1/").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "https://api.example.com/v1/");
        assert_eq!(ServerId::parse("https://example.com").unwrap().as_str(), "https://example.com/");
    }

    #[test]
    fn insecure_or_odd_urls_are_refused_with_a_reason() {
        assert!(matches!(ServerId::parse("http://example.com"), Err(ServerInputError::InsecureScheme(_))));
        assert!(matches!(ServerId::parse("ftp://example.com"), Err(ServerInputError::InsecureScheme(_))));
        assert!(matches!(ServerId::parse("not a url"), Err(ServerInputError::Unparsable(_))));
        assert!(matches!(ServerId::parse(""), Err(ServerInputError::Unparsable(_))));
        assert!(matches!(ServerId::parse("https://u:p@example.com"), Err(ServerInputError::UnexpectedPart(_))));
        assert!(matches!(ServerId::parse("https://example.com/?a=1"), Err(ServerInputError::UnexpectedPart(_))));
        assert!(matches!(ServerId::parse("https://example.com/#x"), Err(ServerInputError::UnexpectedPart(_))));
        assert!(ServerId::parse(&format!("https://example.com/{}", "a".repeat(5000))).is_err());
    }

    #[test]
    fn http_is_allowed_on_loopback() {
        assert!(ServerId::parse("http://127.0.0.1:8080").is_ok());
        assert!(ServerId::parse("http://[::1]:8080/api").is_ok());
        assert!(ServerId::parse("http://localhost:3000").is_ok());
    }

    #[test]
    fn aliases_are_short_and_url_safe() {
        assert!(Alias::new("prod").is_ok());
        assert!(Alias::new("eu-2_b").is_ok());
        for bad in ["", "Prod", "-x", "a/b", "a b", "é", &"a".repeat(33)] {
            assert!(Alias::new(bad).is_err(), "{bad:?}");
        }
        let id = ServerId::parse("https://www.notes.example.com").unwrap();
        assert_eq!(id.suggested_alias().as_str(), "notes");
    }

    #[test]
    fn serde_round_trip_revalidates() {
        let id = ServerId::parse("https://example.com/a").unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<ServerId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<ServerId>("\"http://evil.example\"").is_err());
        assert!(serde_json::from_str::<Alias>("\"Bad Alias\"").is_err());
    }
}
