//! [`ReturnTo`]: the only way to carry "where to go after sign-in". A value of
//! this type is a same-origin relative path; it cannot be built from anything
//! else, and deserialising re-runs the check (DESIGN.md "Pre-auth state and
//! return paths": validated return path, repeated when the callback uses it).
//!
//! The check reads the input as every later step might: as given, after
//! Unicode NFKC normalisation (as UTS #46 applies it, see `chars::normalise`),
//! and after each layer of percent-decoding (normalised again each time). The separator rules (no `//`, no encoded
//! `/`, no whitespace) apply to the path; the query and fragment, which
//! cannot move the browser to another site by themselves, only have to be
//! free of control, invisible and backslash characters, of `%u` and invalid
//! UTF-8 escapes, and of an encoded `//`.

mod chars;
mod decode;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use url::Url;

use decode::Part;

/// Why a return path was refused. Every variant is an attempt (or an accident)
/// that could send the user somewhere other than a page of this app; the
/// caller should fall back to its default route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReturnToError {
    /// The input is empty: there is no path to return to.
    #[error("return path is empty")]
    Empty,
    /// Longer than [`ReturnTo::MAX_LEN`] characters. Real routes are far
    /// shorter; very long values are a smuggling vector and bloat the secret
    /// store, which never holds more than [`ReturnTo::MAX_BYTES`].
    #[error("return path is {len} characters long; the limit is 2048")]
    TooLong {
        /// The input's length in characters (Unicode scalar values).
        len: usize,
    },
    /// An ASCII control character (NUL, tab, CR, LF, …), DEL or a C1 control.
    /// Browsers silently delete tab, CR and LF, so `/\t/evil.example` becomes
    /// `//evil.example`.
    #[error("return path contains a control character")]
    ControlCharacter,
    /// Starts with whitespace. URL parsers trim it, so ` javascript:…` or
    /// ` //evil.example` would become live after trimming.
    #[error("return path starts with whitespace")]
    LeadingWhitespace,
    /// Contains an invisible format character (general category Cf: soft
    /// hyphen, zero-width space, word joiner, bidirectional controls,
    /// byte-order mark, …), a line/paragraph separator or a Hangul filler,
    /// raw or encoded, which hides what the path really is. Zero-width
    /// joiners are accepted only where words need them (RFC 5892 CONTEXTJ).
    #[error("return path contains an invisible or bidirectional-control character")]
    InvisibleCharacter,
    /// Whitespace in the path (after the first `/`): a space, a no-break or
    /// ideographic space, raw or encoded; an encoded ASCII space (`%20`) is
    /// accepted inside a segment, but not as a whole segment (`/%20/x`).
    #[error("return path contains whitespace in its path")]
    Whitespace,
    /// A Unicode character that looks like, or normalises (NFKC) to, a slash or
    /// backslash (`／` U+FF0F, `∕` U+2215, `⁄` U+2044, `⧸` U+29F8, `＼` U+FF3C,
    /// `∖` U+2216, …) at the start, where it could pass for `//`, or one that
    /// normalises to `\`, or to a `/` that makes `//`, anywhere.
    #[error("return path contains a character that imitates a slash or backslash")]
    Lookalike,
    /// A backslash anywhere: several browsers treat `\` as `/`, so `/\evil.example`
    /// is scheme-relative.
    #[error("return path contains a backslash")]
    Backslash,
    /// An absolute URL with a scheme (`https:`, `javascript:`, `data:`, …).
    /// Only paths on this app are accepted.
    #[error("return path is an absolute URL; only a path starting with '/' is accepted")]
    AbsoluteUrl,
    /// Does not start with `/` (`foo/bar`, `./x`, `?x`, `#x`): it would resolve
    /// against whatever page is current.
    #[error("return path must start with '/'")]
    NotRelative,
    /// Starts with `//` or `/\`, which browsers read as "another host".
    #[error("return path starts with '//' or '/\\' (a scheme-relative URL naming another host)")]
    SchemeRelative,
    /// An empty segment (`//`) inside the path: dot-segment normalisation can
    /// turn `/..//evil.example` into the scheme-relative `//evil.example`.
    #[error("return path contains an empty segment ('//') before its query")]
    EmptySegment,
    /// A percent-encoded `/` or `\` (`%2f`, `%5c`) in the path, possibly
    /// encoded several times (`%252f`): a later decoding step would turn it
    /// into a separator. In the query or fragment an encoded `\`, or an
    /// encoded `/` next to another `/` (`?next=%2F%2Fevil.example`).
    #[error("return path contains an encoded '/' or '\\'")]
    EncodedSeparator,
    /// A percent-encoded control character (`%00`, `%09`, `%0d%0a`, …),
    /// possibly encoded several times.
    #[error("return path contains an encoded control character")]
    EncodedControlCharacter,
    /// An IIS-style `%uXXXX` escape, or escapes that are not valid UTF-8
    /// (overlong forms such as `%c0%af` for `/`, lone or truncated
    /// sequences): lenient decoders turn them into separators.
    #[error("return path contains a %u escape or an escape that is not valid UTF-8")]
    InvalidEscape,
    /// Percent-encoding nested deeper than [`ReturnTo::MAX_DECODE_ROUNDS`]
    /// levels: no real route needs it, and it cannot be checked to the bottom.
    #[error("return path is percent-encoded too many times over")]
    ExcessiveEncoding,
    /// Resolving the path against a base URL lands on another origin. This is
    /// the final check behind all the others.
    #[error("return path resolves to another origin")]
    EscapesOrigin,
}

/// A validated return path: starts with exactly one `/`, names no other host
/// or scheme, and contains nothing a browser or router could decode into one.
/// Query and fragment are kept (`/a?b=c#d`); non-ASCII segments are fine.
///
/// The only constructor is [`ReturnTo::parse`]; deserialising validates again.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ReturnTo(String);

impl ReturnTo {
    /// The longest accepted return path, in characters (Unicode scalar values).
    pub const MAX_LEN: usize = 2048;

    /// The most bytes an accepted return path can take (every character of
    /// UTF-8 is at most 4 bytes): longer input is refused before it is read.
    pub const MAX_BYTES: usize = 4 * Self::MAX_LEN;

    /// How many times percent-encoding is peeled off while looking for a
    /// hidden separator or control character.
    pub const MAX_DECODE_ROUNDS: usize = 4;

    /// Validates `input` as a same-origin relative path.
    pub fn parse(input: &str) -> Result<Self, ReturnToError> {
        check(input)?;
        Ok(Self(input.to_owned()))
    }

    /// Runs the validation again. Call it where the path is used (the sign-in
    /// callback) as defence in depth: a value that fails here was not built by
    /// this version of [`ReturnTo::parse`].
    pub fn revalidate(&self) -> Result<(), ReturnToError> {
        check(&self.0)
    }

    /// The path, exactly as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ReturnTo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReturnTo({:?})", self.0)
    }
}

impl fmt::Display for ReturnTo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ReturnTo {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for ReturnTo {
    type Err = ReturnToError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for ReturnTo {
    type Error = ReturnToError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        check(&value)?;
        Ok(Self(value))
    }
}

impl TryFrom<&str> for ReturnTo {
    type Error = ReturnToError;
    fn try_from(value: &str) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl From<ReturnTo> for String {
    fn from(value: ReturnTo) -> Self {
        value.0
    }
}

/// `scheme ":"` at the start, as RFC 3986 spells a scheme.
fn has_scheme(input: &str) -> bool {
    let mut chars = input.chars();
    if !chars.next().is_some_and(|c| c.is_ascii_alphabetic()) {
        return false;
    }
    for c in chars {
        match c {
            ':' => return true,
            c if c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.') => {}
            _ => return false,
        }
    }
    false
}

fn check(input: &str) -> Result<(), ReturnToError> {
    use ReturnToError as E;

    let Some(first) = input.chars().next() else {
        return Err(E::Empty);
    };
    if input.len() > ReturnTo::MAX_BYTES || input.chars().nth(ReturnTo::MAX_LEN).is_some() {
        return Err(E::TooLong { len: input.chars().count() });
    }
    if input.chars().any(char::is_control) {
        return Err(E::ControlCharacter);
    }
    if chars::is_whitespace(first) {
        return Err(E::LeadingWhitespace);
    }
    if chars::hides_something(input) {
        return Err(E::InvisibleCharacter);
    }
    if first != '/' {
        return Err(if chars::is_lookalike(first) {
            E::Lookalike
        } else if first == '\\' {
            E::Backslash
        } else if has_scheme(input) || Url::parse(input).is_ok() {
            E::AbsoluteUrl
        } else {
            E::NotRelative
        });
    }
    match input.chars().nth(1) {
        Some('/' | '\\') => return Err(E::SchemeRelative),
        Some(c) if chars::is_lookalike(c) => return Err(E::Lookalike),
        _ => {}
    }
    if input.contains('\\') {
        return Err(E::Backslash);
    }
    let (path, query) = input.split_at(input.find(['?', '#']).unwrap_or(input.len()));
    if path.chars().any(chars::is_whitespace) {
        return Err(E::Whitespace);
    }
    if path.contains("//") {
        return Err(E::EmptySegment);
    }
    check_layers(path, query)?;
    check_origin(input)
}

/// Reads `path` and `query` as later steps might: NFKC-normalised, then
/// percent-decoded one layer at a time, each layer checked as it is and
/// normalised again. Refuses a layer that reveals a separator, a control or
/// invisible character, whitespace in the path, or another origin.
fn check_layers(path: &str, query: &str) -> Result<(), ReturnToError> {
    use ReturnToError as E;

    let (mut path, mut query) = (path.to_owned(), query.to_owned());
    for round in 0..=ReturnTo::MAX_DECODE_ROUNDS {
        let normalised = (chars::normalise(&path), chars::normalise(&query));
        if normalised != (path.clone(), query.clone()) {
            check_layer(&normalised.0, &normalised.1, Source::Normalised)?;
        }
        (path, query) = normalised;
        let decoded = (decode::decode_round(&path, Part::Path)?, decode::decode_round(&query, Part::Query)?);
        if decoded == (None, None) {
            return Ok(());
        }
        if round == ReturnTo::MAX_DECODE_ROUNDS {
            break;
        }
        path = decoded.0.unwrap_or(path);
        query = decoded.1.unwrap_or(query);
        check_layer(&path, &query, Source::Decoded)?;
    }
    // Still encoded after the last round: refuse rather than guess.
    Err(E::ExcessiveEncoding)
}

/// What produced a layer: it decides which reason a refusal gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// NFKC normalisation: a lookalike became a separator.
    Normalised,
    /// Percent-decoding: an escape became one.
    Decoded,
}

fn check_layer(path: &str, query: &str, source: Source) -> Result<(), ReturnToError> {
    use ReturnToError as E;

    let separator = match source {
        Source::Normalised => E::Lookalike,
        Source::Decoded => E::EncodedSeparator,
    };
    for part in [path, query] {
        if part.chars().any(char::is_control) {
            return Err(E::EncodedControlCharacter);
        }
        if chars::hides_something(part) {
            return Err(E::InvisibleCharacter);
        }
        if part.contains('\\') {
            return Err(separator);
        }
    }
    if path.chars().nth(1).is_some_and(chars::is_lookalike) {
        return Err(E::Lookalike);
    }
    if path.contains("//") {
        return Err(if path.starts_with("//") { separator } else { E::EmptySegment });
    }
    let odd_space = |c: char| c != ' ' && chars::is_whitespace(c);
    let blank_segment = |s: &str| !s.is_empty() && s.chars().all(chars::is_whitespace);
    if path.chars().any(odd_space) || path.split('/').any(blank_segment) {
        return Err(E::Whitespace);
    }
    check_origin(&format!("{path}{query}"))
}

/// Resolves the path against a fixed base the way a browser would and checks
/// that it stays there. Fails closed.
fn check_origin(input: &str) -> Result<(), ReturnToError> {
    const BASE: &str = "https://authstate.invalid/";
    if !matches!(Url::parse(input), Err(url::ParseError::RelativeUrlWithoutBase)) {
        return Err(ReturnToError::AbsoluteUrl);
    }
    let resolved = Url::parse(BASE).and_then(|base| base.join(input));
    match resolved {
        Ok(url)
            if url.scheme() == "https"
                && url.host_str() == Some("authstate.invalid")
                && url.port().is_none()
                && url.username().is_empty()
                && url.password().is_none()
                && !url.path().starts_with("//") =>
        {
            Ok(())
        }
        _ => Err(ReturnToError::EscapesOrigin),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_paths_round_trip_unchanged() {
        for ok in ["/", "/a?b=c#d", "/@user", "/café/ünïcode", "/日本", "/a/b/", "/%2e%2e/x"] {
            let r = ReturnTo::parse(ok).unwrap_or_else(|e| panic!("{ok:?} refused: {e}"));
            assert_eq!(r.as_str(), ok);
            assert_eq!(r.to_string(), ok);
            assert_eq!(r.revalidate(), Ok(()));
        }
    }

    #[test]
    fn each_rule_reports_its_own_reason() {
        use ReturnToError as E;
        let cases: &[(&str, ReturnToError)] = &[
            ("", E::Empty),
            ("\t/x", E::ControlCharacter),
            (" /x", E::LeadingWhitespace),
            ("/a\u{202E}b", E::InvisibleCharacter),
            ("\u{FF0F}/x", E::Lookalike),
            ("/\u{2215}x", E::Lookalike),
            ("\\\\host", E::Backslash),
            ("/a\\b", E::Backslash),
            ("JavaScript:alert(1)", E::AbsoluteUrl),
            ("foo/bar", E::NotRelative),
            ("//host", E::SchemeRelative),
            ("/\\host", E::SchemeRelative),
            ("/..//evil.example", E::EmptySegment),
            ("/%2fhost", E::EncodedSeparator),
            ("/%252fhost", E::EncodedSeparator),
            ("/a%00", E::EncodedControlCharacter),
            ("/a%c2%85", E::EncodedControlCharacter),
            ("/%EF%BC%8Fevil.example", E::Lookalike),
            ("/%2525252541", E::ExcessiveEncoding),
        ];
        for (input, want) in cases {
            assert_eq!(ReturnTo::parse(input), Err(*want), "input {input:?}");
        }
        let long = format!("/{}", "a".repeat(ReturnTo::MAX_LEN));
        assert_eq!(ReturnTo::parse(&long), Err(E::TooLong { len: ReturnTo::MAX_LEN + 1 }));
        assert!(ReturnTo::parse(&long[..ReturnTo::MAX_LEN]).is_ok());
    }

    #[test]
    fn a_query_may_hold_double_slashes_and_literal_percents() {
        for ok in ["/a?u=https://x.example/p", "/q?x=100%", "/q?x=%2541", "/a#//frag"] {
            assert!(ReturnTo::parse(ok).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn serde_revalidates() {
        let r = ReturnTo::parse("/rooms/1?x=y").unwrap();
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(json, "\"/rooms/1?x=y\"");
        assert_eq!(serde_json::from_str::<ReturnTo>(&json).unwrap(), r);
        assert!(serde_json::from_str::<ReturnTo>("\"//evil.example\"").is_err());
        assert!(serde_json::from_str::<ReturnTo>("\"https://evil.example\"").is_err());
    }
}
