//! Endpoint paths: where the credential backends send passwords and tokens,
//! always below a server's base URL (DESIGN.md invariant 15).
//!
//! Guarantees:
//!
//! - [`check_endpoint_path`] accepts only a relative path of RFC 3986
//!   path characters below the base, judged after every layer of
//!   percent-decoding: no backslash, dot segment (`..`, `%2e%2E`, `.%2e`),
//!   encoded `/`, scheme, `//` authority, `@`, `?`, `#`, control character,
//!   whitespace or non-ASCII character, raw or encoded.
//! - [`endpoint_url`] checks the path again (a stored record may have been
//!   edited) and then checks the joined URL itself: same scheme, host and
//!   port as the base, no credentials, query or fragment, and a path that
//!   starts with the base's path. A URL that fails any of these is never
//!   returned, so no request can be built for it.

use url::Url;

use super::ServerId;

/// The longest endpoint path accepted, in bytes.
pub const MAX_ENDPOINT_PATH: usize = 2048;

/// How many layers of percent-encoding are peeled off before giving up.
const MAX_DECODE_ROUNDS: usize = 4;

/// Why an endpoint path was refused. Every variant is a way a path could
/// lead a request, and the credentials in it, somewhere other than the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointPathError {
    /// The path is empty.
    #[error("it is empty")]
    Empty,
    /// Longer than [`MAX_ENDPOINT_PATH`] bytes.
    #[error("it is longer than {MAX_ENDPOINT_PATH} bytes")]
    TooLong,
    /// Starts with `/`: it would replace the base URL's path prefix.
    #[error("it starts with '/' (it would leave the base URL's path)")]
    Absolute,
    /// A `//` (an authority: another host) or another empty segment.
    #[error("it contains '//' (an authority or an empty segment)")]
    EmptySegment,
    /// A backslash, which URL parsers read as `/` (`\\host` names another host).
    #[error("it contains a backslash")]
    Backslash,
    /// A `.` or `..` segment, raw or percent-encoded in any case.
    #[error("it contains a '.' or '..' segment")]
    DotSegment,
    /// A first segment holding `:`, which parses as a scheme (`https:`, `javascript:`).
    #[error("it starts with a scheme (a ':' in its first segment)")]
    Scheme,
    /// `@`, which separates credentials from a host.
    #[error("it contains '@'")]
    UserInfo,
    /// `?` or `#`: endpoint paths carry no query or fragment.
    #[error("it contains '?' or '#'")]
    QueryOrFragment,
    /// A control character, whitespace, a non-ASCII character or another
    /// character that is not an RFC 3986 path character.
    #[error("it contains a control, whitespace, non-ASCII or other non-path character")]
    Character,
    /// A percent-encoded `/`, `\`, `?`, `#`, `@`, control, whitespace or
    /// non-ASCII byte: a later decoding step would turn it into one.
    #[error("it contains a percent-encoded separator or forbidden character")]
    EncodedCharacter,
    /// A `%` that does not start a `%XX` escape (`%u002e`, `%zz`, a trailing `%`).
    #[error("it contains a '%' that is not a two-digit escape")]
    BadEscape,
    /// Percent-encoding nested deeper than can be checked.
    #[error("it is percent-encoded too many times over")]
    ExcessiveEncoding,
    /// Joined to the base URL, it names another scheme, host, port or path
    /// prefix (a stored record that bypassed the checks above).
    #[error("joined to the server URL it leaves the server's scheme, host, port or path")]
    LeavesServer,
}

/// Checks that `path` is a relative path that stays below any base URL,
/// whatever decodes it: RFC 3986 path characters only, no leading `/`, no
/// empty or dot segment, no scheme, no `@`, `?` or `#`, before and after
/// each layer of percent-decoding.
pub fn check_endpoint_path(path: &str) -> Result<(), EndpointPathError> {
    use EndpointPathError as E;
    if path.is_empty() {
        return Err(E::Empty);
    }
    if path.len() > MAX_ENDPOINT_PATH {
        return Err(E::TooLong);
    }
    let mut current = path.as_bytes().to_vec();
    check_characters(&current)?;
    for _ in 0..=MAX_DECODE_ROUNDS {
        check_structure(&current)?;
        match decode_round(&current)? {
            None => return Ok(()),
            Some(decoded) => current = decoded,
        }
    }
    Err(E::ExcessiveEncoding)
}

/// `path` joined to the server's base URL, checked before and after the
/// join (see the module guarantees). The only way the credential backends
/// build a URL.
pub fn endpoint_url(server: &ServerId, path: &str) -> Result<Url, EndpointPathError> {
    check_endpoint_path(path)?;
    let base = server.url().map_err(|_| EndpointPathError::LeavesServer)?;
    let joined = base.join(path).map_err(|_| EndpointPathError::LeavesServer)?;
    ensure_under(&base, &joined)?;
    Ok(joined)
}

/// Whether `joined` keeps `base`'s scheme, host, port and path prefix, and
/// carries no credentials, query or fragment.
pub(crate) fn ensure_under(base: &Url, joined: &Url) -> Result<(), EndpointPathError> {
    let same_origin = joined.scheme() == base.scheme()
        && joined.host() == base.host()
        && joined.port_or_known_default() == base.port_or_known_default();
    let clean = joined.username().is_empty()
        && joined.password().is_none()
        && joined.query().is_none()
        && joined.fragment().is_none();
    if same_origin && clean && joined.path().starts_with(base.path()) {
        Ok(())
    } else {
        Err(EndpointPathError::LeavesServer)
    }
}

/// `text` quoted for a message: escaped as `{:?}` does, and cut after 64
/// characters (`{:.64?}` does not cut a string).
pub(crate) fn shown(text: &str) -> String {
    const MAX: usize = 64;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}…", text.get(..cut).unwrap_or_default()),
        None => format!("{text:?}"),
    }
}

/// RFC 3986 `unreserved` and `sub-delims`, plus `:` (not in the first
/// segment), `%` (escapes) and `/`.
fn is_path_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:%/".contains(&b)
}

/// The raw characters, each reported by what it could do.
fn check_characters(path: &[u8]) -> Result<(), EndpointPathError> {
    use EndpointPathError as E;
    for &b in path {
        match b {
            b'\\' => return Err(E::Backslash),
            b'@' => return Err(E::UserInfo),
            b'?' | b'#' => return Err(E::QueryOrFragment),
            b if !is_path_byte(b) => return Err(E::Character),
            _ => {}
        }
    }
    Ok(())
}

/// The shape of one decoding layer: relative, no empty or dot segment, no
/// scheme.
fn check_structure(path: &[u8]) -> Result<(), EndpointPathError> {
    use EndpointPathError as E;
    if path.first() == Some(&b'/') {
        return Err(E::Absolute);
    }
    let segments: Vec<&[u8]> = path.split(|&b| b == b'/').collect();
    if segments.first().is_some_and(|first| first.contains(&b':')) {
        return Err(E::Scheme);
    }
    let last = segments.len().saturating_sub(1);
    for (i, segment) in segments.iter().enumerate() {
        match *segment {
            b"" if i != last => return Err(E::EmptySegment),
            b"." | b".." => return Err(E::DotSegment),
            _ => {}
        }
    }
    Ok(())
}

/// One layer of percent-decoding; `Ok(None)` when there is nothing to decode.
/// An escape may only decode to a path character other than `/`, and every
/// `%` must start a two-hex-digit escape.
fn decode_round(path: &[u8]) -> Result<Option<Vec<u8>>, EndpointPathError> {
    use EndpointPathError as E;
    if !path.contains(&b'%') {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(path.len());
    let mut i = 0;
    while let Some(&b) = path.get(i) {
        if b != b'%' {
            out.push(b);
            i += 1;
            continue;
        }
        let byte = match (path.get(i + 1).copied().and_then(hex), path.get(i + 2).copied().and_then(hex)) {
            (Some(hi), Some(lo)) => hi << 4 | lo,
            _ => return Err(E::BadEscape),
        };
        if byte == b'/' || !is_path_byte(byte) {
            return Err(E::EncodedCharacter);
        }
        out.push(byte);
        i += 3;
    }
    Ok(Some(out))
}

fn hex(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use EndpointPathError as E;

    #[test]
    fn ordinary_paths_are_accepted() {
        for ok in ["api/token/", "api/v1/auth/login/", "token", "a.b/c", "v1.2/", "~user/x", ".well-known/x", "a%41/"] {
            assert_eq!(check_endpoint_path(ok), Ok(()), "{ok:?}");
        }
    }

    #[test]
    fn each_rule_reports_its_own_reason() {
        let cases: &[(&str, EndpointPathError)] = &[
            ("", E::Empty),
            ("/api/", E::Absolute),
            ("a//b", E::EmptySegment),
            ("//evil.example/", E::Absolute),
            ("\\\\127.0.0.1:8766/steal/", E::Backslash),
            ("../x", E::DotSegment),
            ("%2e%2e/tenant-b/", E::DotSegment),
            (".%2E/x", E::DotSegment),
            ("%252e%252e/x", E::DotSegment),
            ("https:evil.example", E::Scheme),
            ("https%3A//evil.example", E::EmptySegment),
            ("a@b/", E::UserInfo),
            ("a?x=1", E::QueryOrFragment),
            ("a b", E::Character),
            ("é/", E::Character),
            ("a%2fb", E::EncodedCharacter),
            ("a%5cb", E::EncodedCharacter),
            ("a%zz", E::BadEscape),
            ("%u002e%u002e/x", E::BadEscape),
            ("a%2525252541", E::ExcessiveEncoding),
        ];
        for (input, want) in cases {
            assert_eq!(check_endpoint_path(input), Err(*want), "{input:?}");
        }
        assert_eq!(check_endpoint_path(&"a".repeat(MAX_ENDPOINT_PATH + 1)), Err(E::TooLong));
    }

    #[test]
    fn messages_quote_at_most_64_characters() {
        assert_eq!(shown("a\\b"), r#""a\\b""#);
        let long = shown(&"x".repeat(10_000));
        assert!(long.chars().count() < 70 && long.ends_with('…'), "{long}");
    }

    #[test]
    fn joins_stay_below_the_base() {
        let server = ServerId::parse("https://api.example/tenant-a/").expect("base");
        assert_eq!(
            endpoint_url(&server, "api/token/").expect("joins").as_str(),
            "https://api.example/tenant-a/api/token/"
        );
        assert_eq!(
            endpoint_url(&server, "sessions/-5/").map(|u| u.path().to_owned()).as_deref(),
            Ok("/tenant-a/sessions/-5/")
        );
        assert_eq!(endpoint_url(&server, "%2e%2e/tenant-b/"), Err(E::DotSegment));
    }

    #[test]
    fn the_join_check_holds_without_the_path_check() {
        let base = Url::parse("http://127.0.0.1:8765/tenant-a/").expect("base");
        for tampered in [
            "\\\\127.0.0.1:8766/steal/",
            "//127.0.0.1:8766/steal/",
            "/\\127.0.0.1:8766/",
            "http://127.0.0.1:8766/",
            "https://127.0.0.1:8765/tenant-a/",
            "../tenant-b/",
            "%2e%2e/tenant-b/",
            "/tenant-b/",
            "x?y",
            "x#y",
            "http://u:p@127.0.0.1:8765/tenant-a/",
        ] {
            let joined = base.join(tampered).expect("url joins it");
            assert_eq!(ensure_under(&base, &joined), Err(E::LeavesServer), "{tampered:?} joined as {joined}");
        }
    }
}
