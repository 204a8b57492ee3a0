//! Percent-decoding for return paths, one layer at a time, refusing what a
//! later decoder could turn into a separator or hide: encoded `\`, encoded
//! `/` in the path (and, in the query or fragment, an encoded `/` that forms
//! `//`), encoded control characters, IIS-style `%u` escapes, and escapes
//! that are not valid UTF-8 (overlong forms such as `%c0%af` for `/`).

use super::ReturnToError;

/// Which part of a return path a layer belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Part {
    /// Before the first `?` or `#`.
    Path,
    /// The query and fragment.
    Query,
}

/// One layer of percent-decoding of `input`; `Ok(None)` when there was
/// nothing to decode. A `%` not followed by two hex digits is kept as it is
/// (`/q?x=100%`), unless it is a `%u` escape.
pub(super) fn decode_round(input: &str, part: Part) -> Result<Option<String>, ReturnToError> {
    use ReturnToError as E;
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut decoded_slashes = Vec::new();
    let mut decoded_any = false;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            if is_u_escape(bytes.get(i + 1..).unwrap_or_default()) {
                return Err(E::InvalidEscape);
            }
            if let Some(c) = escape(bytes.get(i + 1..).unwrap_or_default()) {
                match c {
                    b'\\' => return Err(E::EncodedSeparator),
                    b'/' if part == Part::Path => return Err(E::EncodedSeparator),
                    b'/' => decoded_slashes.push(out.len()),
                    c if c.is_ascii_control() => return Err(E::EncodedControlCharacter),
                    _ => {}
                }
                out.push(c);
                decoded_any = true;
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    if !decoded_any {
        return Ok(None);
    }
    // In a query, `next=%2Fdashboard` is an ordinary value; `next=%2F%2Fhost`
    // is a scheme-relative URL waiting for the next redirect.
    let doubled =
        |at: usize| at.checked_sub(1).and_then(|p| out.get(p)) == Some(&b'/') || out.get(at + 1) == Some(&b'/');
    if decoded_slashes.iter().any(|&at| doubled(at)) {
        return Err(E::EncodedSeparator);
    }
    String::from_utf8(out).map(Some).map_err(|_| E::InvalidEscape)
}

/// The byte of a `XX` escape (the part after `%`).
fn escape(after: &[u8]) -> Option<u8> {
    match after {
        [hi, lo, ..] => hex(*hi).zip(hex(*lo)).map(|(h, l)| h << 4 | l),
        _ => None,
    }
}

/// `uXXXX` or `UXXXX` (the part after `%`): IIS's non-standard escape.
fn is_u_escape(after: &[u8]) -> bool {
    matches!(after, [b'u' | b'U', rest @ ..] if rest.len() >= 4 && rest.iter().take(4).all(u8::is_ascii_hexdigit))
}

fn hex(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ReturnToError as E;

    #[test]
    fn one_layer_at_a_time() {
        assert_eq!(decode_round("/a%20b", Part::Path), Ok(Some("/a b".into())));
        assert_eq!(decode_round("/a%2520b", Part::Path), Ok(Some("/a%20b".into())));
        assert_eq!(decode_round("/plain", Part::Path), Ok(None));
        assert_eq!(decode_round("?x=100%", Part::Query), Ok(None));
        assert_eq!(decode_round("/%E6%97%A5", Part::Path), Ok(Some("/日".into())));
    }

    #[test]
    fn separators_only_where_harmless() {
        assert_eq!(decode_round("/a%2fb", Part::Path), Err(E::EncodedSeparator));
        assert_eq!(decode_round("?next=%2Fdashboard", Part::Query), Ok(Some("?next=/dashboard".into())));
        assert_eq!(decode_round("?next=%2F%2Fevil", Part::Query), Err(E::EncodedSeparator));
        assert_eq!(decode_round("?next=%2F/evil", Part::Query), Err(E::EncodedSeparator));
        assert_eq!(decode_round("?next=/%2Fevil", Part::Query), Err(E::EncodedSeparator));
        assert_eq!(decode_round("?next=%5Cevil", Part::Query), Err(E::EncodedSeparator));
    }

    #[test]
    fn non_standard_and_invalid_utf8_escapes_are_refused() {
        for bad in
            ["/%u002f", "/%U002F", "/%c0%af", "/%e0%80%af", "/%f0%80%80%af", "/%c1%9c", "/%ff", "/%c3", "/%ed%a0%80"]
        {
            assert_eq!(decode_round(bad, Part::Path), Err(E::InvalidEscape), "{bad}");
        }
        assert_eq!(decode_round("/%user", Part::Path), Ok(None), "not four hex digits");
    }
}
