//! Character classes for return paths: slash lookalikes, whitespace,
//! invisible format characters (with the joiner contexts where words need
//! them), and compatibility normalisation.

use icu_normalizer::uts46::Uts46MapperBorrowed;
use icu_properties::CodePointMapData;
use icu_properties::props::{GeneralCategory, JoiningType};

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

/// `text` under NFKC as UTS #46 applies it: NFKC_Casefold plus IDNA's
/// mappings (`／` → `/`, `＼` → `\`, `％` → `%`, `．` → `.`, full-width
/// letters → ASCII), with default-ignorable characters dropped. It is the
/// table `url` already uses for host names, so it adds no data to the
/// library. It differs from plain NFKC only where NFKC yields dots alone
/// (`․`, `⒈`) or where the input holds a control, whitespace or invisible
/// character, which the checks refuse before normalising; a test compares
/// the two over every code point.
pub(super) fn normalise(text: &str) -> String {
    Uts46MapperBorrowed::new().map_normalize(text.chars()).collect()
}

/// Whether `c` looks like `/` or `\`.
pub(super) fn is_lookalike(c: char) -> bool {
    SLASH_LOOKALIKES.contains(&c) || BACKSLASH_LOOKALIKES.contains(&c)
}

/// Unicode `White_Space` (which holds the no-break and ideographic spaces).
pub(super) fn is_whitespace(c: char) -> bool {
    c.is_whitespace() || matches!(c, '\u{00A0}' | '\u{3000}')
}

const ZWNJ: char = '\u{200C}';
const ZWJ: char = '\u{200D}';

/// Characters that render as nothing: general category Cf (soft hyphen,
/// zero-width space and joiners, bidirectional controls, word joiner,
/// byte-order mark, Mongolian vowel separator, tags, …), the line and
/// paragraph separators, and the Hangul fillers.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}' | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}')
        || CodePointMapData::<GeneralCategory>::new().get(c) == GeneralCategory::Format
}

/// Whether `text` holds an invisible character that hides what it says.
/// Zero-width joiners are allowed only where RFC 5892 (Appendix A.1, A.2:
/// IDNA's CONTEXTJ rules) allows them in a domain label: after a virama, or
/// a non-joiner between joining letters (`فارسی‌ها`); anywhere else (next to
/// a `/`, in Latin text) they are refused like every other format character.
pub(super) fn hides_something(text: &str) -> bool {
    if !text.chars().any(is_invisible) {
        return false;
    }
    let chars: Vec<char> = text.chars().collect();
    chars.iter().enumerate().any(|(i, &c)| match c {
        ZWJ => !after_virama(&chars, i),
        ZWNJ => !after_virama(&chars, i) && !between_joining_letters(&chars, i),
        c => is_invisible(c),
    })
}

fn after_virama(chars: &[char], at: usize) -> bool {
    at.checked_sub(1).and_then(|i| chars.get(i)).is_some_and(|&c| Uts46MapperBorrowed::new().is_virama(c))
}

/// RFC 5892 A.1: `(Joining_Type:{L,D})(Joining_Type:T)*\u200C(Joining_Type:T)*(Joining_Type:{R,D})`.
fn between_joining_letters(chars: &[char], at: usize) -> bool {
    let joining = CodePointMapData::<JoiningType>::new();
    let transparent = |c: &&char| joining.get(**c) == JoiningType::Transparent;
    let before = chars.get(..at).unwrap_or_default().iter().rev().find(|c| !transparent(c));
    let after = chars.get(at + 1..).unwrap_or_default().iter().find(|c| !transparent(c));
    let left = before.is_some_and(|&c| matches!(joining.get(c), JoiningType::LeftJoining | JoiningType::DualJoining));
    let right = after.is_some_and(|&c| matches!(joining.get(c), JoiningType::RightJoining | JoiningType::DualJoining));
    left && right
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_characters_are_invisible() {
        for c in ['\u{00AD}', '\u{200B}', '\u{200E}', '\u{202E}', '\u{2060}', '\u{2064}', '\u{FEFF}', '\u{180E}'] {
            assert!(hides_something(&format!("/a{c}b")), "U+{:04X}", u32::from(c));
        }
        assert!(hides_something("/a\u{E0041}"), "tag characters");
        assert!(!hides_something("/plain/日本/🎉"));
    }

    #[test]
    fn joiners_only_where_words_need_them() {
        assert!(!hides_something("/فارسی\u{200C}ها"), "Persian plural: ZWNJ between joining letters");
        assert!(!hides_something("/क्\u{200D}ष"), "Devanagari: ZWJ after a virama");
        assert!(!hides_something("/क्\u{200C}ष"), "Devanagari: ZWNJ after a virama");
        for hostile in ["/\u{200D}/x", "/\u{200C}/x", "/a\u{200C}b", "/a\u{200D}b", "/\u{200C}", "/ه\u{200C}"] {
            assert!(hides_something(hostile), "{hostile:?}");
        }
    }

    #[test]
    fn normalising_agrees_with_nfkc_on_every_separator() {
        let nfkc = icu_normalizer::ComposingNormalizerBorrowed::new_nfkc();
        let separators = |s: &str| -> String {
            s.chars().filter(|&c| matches!(c, '/' | '\\' | '%' | '?' | '#' | ':' | '@') || is_whitespace(c)).collect()
        };
        let categories = CodePointMapData::<GeneralCategory>::new();
        let unassigned =
            |c: char| matches!(categories.get(c), GeneralCategory::Unassigned | GeneralCategory::PrivateUse);
        let refused_before =
            |c: char| unassigned(c) || c.is_control() || is_whitespace(c) || hides_something(&c.to_string());
        let mut differ = Vec::new();
        for c in (0..=0x10FFFF).filter_map(char::from_u32).filter(|&c| !refused_before(c)) {
            let (ours, theirs) = (normalise(&c.to_string()), nfkc.normalize(&c.to_string()).into_owned());
            if separators(&ours) != separators(&theirs) {
                differ.push(format!("U+{:04X}: {ours:?} / NFKC {theirs:?}", u32::from(c)));
            }
        }
        assert!(
            differ.is_empty(),
            "{} characters normalise to other separators than NFKC gives:\n{}",
            differ.len(),
            differ.join("\n")
        );
        assert_eq!(normalise("/\u{FF0E}\u{FF0E}\u{FF0F}\u{FF0F}\u{FF05}2f\u{FF3C}"), "/..//%2f\\");
    }

    #[test]
    fn whitespace_includes_the_wide_spaces() {
        for c in [' ', '\t', '\u{00A0}', '\u{3000}', '\u{2028}', '\u{1680}', '\u{2007}', '\u{202F}'] {
            assert!(is_whitespace(c), "U+{:04X}", u32::from(c));
        }
        assert!(!is_whitespace('\u{200B}'), "zero-width space is a format character, not whitespace");
    }
}
