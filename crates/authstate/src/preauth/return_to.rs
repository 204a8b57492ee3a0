//! [`ReturnTo`]: the only way to carry "where to go after sign-in". A value of
//! this type is a same-origin relative path; it cannot be built from anything
//! else, and deserialising re-runs the check (DESIGN.md "Pre-auth state and
//! return paths": validated return path, repeated when the callback uses it).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use url::Url;

/// Why a return path was refused. Every variant is an attempt (or an accident)
/// that could send the user somewhere other than a page of this app; the
/// caller should fall back to its default route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReturnToError {
    /// The input is empty: there is no path to return to.
    #[error("return path is empty")]
    Empty,
    /// Longer than [`ReturnTo::MAX_LEN`] bytes. Real routes are far shorter;
    /// very long values are a smuggling vector and bloat the secret store.
    #[error("return path is {len} bytes long; the limit is 2048")]
    TooLong {
        /// The input's length in bytes.
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
    /// Contains a zero-width, bidirectional-override, byte-order-mark or
    /// line/paragraph-separator character, which hides what the path really is.
    #[error("return path contains an invisible or bidirectional-control character")]
    InvisibleCharacter,
    /// A Unicode character that looks like, or normalises (NFKC) to, a slash or
    /// backslash (`／` U+FF0F, `∕` U+2215, `⁄` U+2044, `⧸` U+29F8, `＼` U+FF3C,
    /// `∖` U+2216, …) at the start, where it could pass for `//`.
    #[error("return path starts with a character that imitates a slash or backslash")]
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
    /// A percent-encoded `/` or `\` (`%2f`, `%5c`), possibly encoded several
    /// times (`%252f`): a later decoding step would turn it into a separator.
    #[error("return path contains an encoded '/' or '\\'")]
    EncodedSeparator,
    /// A percent-encoded control character (`%00`, `%09`, `%0d%0a`, …),
    /// possibly encoded several times.
    #[error("return path contains an encoded control character")]
    EncodedControlCharacter,
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
    /// The longest accepted return path, in bytes.
    pub const MAX_LEN: usize = 2048;

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

/// Characters that look like `/` or normalise to it.
const SLASH_LOOKALIKES: &[char] = &[
    '\u{2044}',  // FRACTION SLASH
    '\u{2215}',  // DIVISION SLASH
    '\u{2571}',  // BOX DRAWINGS LIGHT DIAGONAL UPPER RIGHT TO LOWER LEFT
    '\u{27CB}',  // MATHEMATICAL RISING DIAGONAL
    '\u{29F8}',  // BIG SOLIDUS
    '\u{FF0F}',  // FULLWIDTH SOLIDUS (NFKC: '/')
    '\u{1735}',  // PHILIPPINE SINGLE PUNCTUATION
    '\u{2F03}',  // KANGXI RADICAL SLASH
    '\u{3033}',  // VERTICAL KANA REPEAT MARK UPPER HALF
    '\u{1D23A}', // GREEK INSTRUMENTAL NOTATION SYMBOL-47
];

/// Characters that look like `\` or normalise to it.
const BACKSLASH_LOOKALIKES: &[char] = &[
    '\u{2216}', // SET MINUS
    '\u{2572}', // BOX DRAWINGS LIGHT DIAGONAL UPPER LEFT TO LOWER RIGHT
    '\u{27CD}', // MATHEMATICAL FALLING DIAGONAL
    '\u{29F5}', // REVERSE SOLIDUS OPERATOR
    '\u{29F9}', // BIG REVERSE SOLIDUS
    '\u{FE68}', // SMALL REVERSE SOLIDUS (NFKC: '\')
    '\u{FF3C}', // FULLWIDTH REVERSE SOLIDUS (NFKC: '\')
    '\u{31D4}', // CJK STROKE D
    '\u{3035}', // VERTICAL KANA REPEAT MARK LOWER HALF
];

fn is_lookalike(c: char) -> bool {
    SLASH_LOOKALIKES.contains(&c) || BACKSLASH_LOOKALIKES.contains(&c)
}

/// Zero-width, bidi-control, BOM and line/paragraph separators. ZWJ and ZWNJ
/// are allowed: they are part of ordinary words in several scripts.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
    )
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
    if input.len() > ReturnTo::MAX_LEN {
        return Err(E::TooLong { len: input.len() });
    }
    if input.chars().any(char::is_control) {
        return Err(E::ControlCharacter);
    }
    if first.is_whitespace() {
        return Err(E::LeadingWhitespace);
    }
    if input.chars().any(is_invisible) {
        return Err(E::InvisibleCharacter);
    }
    if first != '/' {
        return Err(if is_lookalike(first) {
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
        Some(c) if is_lookalike(c) => return Err(E::Lookalike),
        _ => {}
    }
    if input.contains('\\') {
        return Err(E::Backslash);
    }
    let path_end = input.find(['?', '#']).unwrap_or(input.len());
    if input.get(..path_end).is_some_and(|path| path.contains("//")) {
        return Err(E::EmptySegment);
    }
    check_encoding(input)?;
    check_origin(input)
}

/// Peels percent-encoding off, round by round, and refuses any round that
/// reveals a separator, a control character, or a lookalike after the leading
/// slash.
fn check_encoding(input: &str) -> Result<(), ReturnToError> {
    use ReturnToError as E;

    let mut current = input.as_bytes().to_vec();
    for _ in 0..ReturnTo::MAX_DECODE_ROUNDS {
        let Some(decoded) = decode_round(&current)? else {
            return Ok(());
        };
        let text = String::from_utf8_lossy(&decoded);
        if text.chars().any(char::is_control) {
            return Err(E::EncodedControlCharacter);
        }
        if text.chars().any(is_invisible) {
            return Err(E::InvisibleCharacter);
        }
        if text.chars().nth(1).is_some_and(is_lookalike) {
            return Err(E::Lookalike);
        }
        current = decoded;
    }
    // Still encoded after the last round: refuse rather than guess.
    match decode_round(&current)? {
        None => Ok(()),
        Some(_) => Err(E::ExcessiveEncoding),
    }
}

/// One round of percent-decoding. `Ok(None)` when there was nothing to decode.
/// A `%` not followed by two hex digits is kept as it is.
fn decode_round(input: &[u8]) -> Result<Option<Vec<u8>>, ReturnToError> {
    let mut out = Vec::with_capacity(input.len());
    let mut decoded_any = false;
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        let escaped = match (b, input.get(i + 1), input.get(i + 2)) {
            (b'%', Some(&hi), Some(&lo)) => hex(hi).zip(hex(lo)).map(|(h, l)| h << 4 | l),
            _ => None,
        };
        match escaped {
            Some(b'/' | b'\\') => return Err(ReturnToError::EncodedSeparator),
            Some(c) if c.is_ascii_control() => return Err(ReturnToError::EncodedControlCharacter),
            Some(c) => {
                out.push(c);
                decoded_any = true;
                i += 3;
            }
            None => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(decoded_any.then_some(out))
}

fn hex(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok())
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
