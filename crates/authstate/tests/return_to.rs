//! `ReturnTo` against hostile and ordinary inputs (DESIGN.md "Pre-auth state and
//! return paths": a return path is a relative path starting with one `/`, and
//! nothing that could decode into another origin).
//!
//! Sources for the hostile classes: the OWASP Unvalidated Redirects and
//! Forwards Cheat Sheet; PortSwigger's URL validation bypass cheat sheet
//! (open-redirect section: whitespace, encodings, Unicode normalisation);
//! RFC 3986 §5.2.4 (dot-segment removal); WHATWG URL (backslash as `/`,
//! tab/CR/LF deletion); Unicode TR36 §3 (visual spoofing, NFKC) and TR31 /
//! RFC 5892 Appendix A (where zero-width joiners belong); Microsoft's IIS
//! `%u` encoding (CVE-2000-0884 era); overlong UTF-8 (CVE-2000-0884, RFC 3629
//! §10).

use authstate::preauth::{ReturnTo, ReturnToError};
use proptest::prelude::*;
use url::Url;

/// Where every accepted path is resolved in these tests.
const BASE: &str = "https://app.example/some/page?x=1";

/// Inputs that must be refused, each with the attack it stands for.
fn hostile() -> Vec<(String, &'static str)> {
    let mut cases: Vec<(String, &'static str)> = [
        // Absolute URLs, many schemes and spellings.
        ("https://evil.example", "absolute https URL"),
        ("http://evil.example", "absolute http URL"),
        ("HTTPS://EVIL.EXAMPLE", "upper-case scheme"),
        ("HtTpS://evil.example/path", "mixed-case scheme"),
        ("https:evil.example", "special scheme without slashes (browsers add them)"),
        ("https:/evil.example", "special scheme with one slash"),
        ("http:\\\\evil.example", "special scheme with backslashes"),
        ("ftp://evil.example/file", "ftp URL"),
        ("file:///etc/passwd", "file URL"),
        ("ws://evil.example", "websocket URL"),
        ("wss://evil.example", "secure websocket URL"),
        ("javascript:alert(1)", "javascript URL"),
        ("JAVASCRIPT:alert(1)", "upper-case javascript URL"),
        ("JaVaScRiPt:alert(1)", "mixed-case javascript URL"),
        ("javascript:/*/*/alert(1)", "javascript URL with comment"),
        ("javascript://%0aalert(1)", "javascript URL hiding behind a comment and newline"),
        ("javascript:void(0)//", "javascript void"),
        ("vbscript:msgbox(1)", "vbscript URL"),
        ("data:text/html,<script>alert(1)</script>", "data URL"),
        ("DATA:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==", "upper-case base64 data URL"),
        ("blob:https://evil.example/0000", "blob URL"),
        ("mailto:a@evil.example", "mailto URL"),
        ("tel:+15555550100", "tel URL"),
        ("intent://evil.example#Intent;scheme=https;end", "Android intent URL"),
        ("myapp://callback?code=x", "custom-scheme deep link"),
        ("about:blank", "about URL"),
        ("chrome://settings", "browser-internal URL"),
        ("view-source:https://evil.example", "view-source URL"),
        ("x-callback-url:open", "scheme with dashes"),
        ("urn:isbn:0451450523", "URN"),
        ("evil.example:443/x", "host:port parses as a scheme"),
        ("localhost:8080", "localhost:port parses as a scheme"),
        // Leading whitespace and invisible characters.
        (" /x", "leading space"),
        ("  //evil.example", "leading spaces before scheme-relative"),
        (" javascript:alert(1)", "leading space before javascript"),
        ("\u{00A0}javascript:alert(1)", "leading no-break space"),
        ("\u{3000}/x", "leading ideographic space"),
        ("\u{2028}/x", "leading line separator"),
        ("\u{FEFF}/x", "leading byte-order mark"),
        ("\u{200B}//evil.example", "leading zero-width space"),
        ("/a\u{202E}gpj.exe", "right-to-left override"),
        ("/a\u{200B}b", "zero-width space inside"),
        ("/a\u{2029}b", "paragraph separator inside"),
        ("/x\u{2066}y", "bidi isolate inside"),
        // Control characters (browsers delete tab/CR/LF).
        ("\t/x", "leading tab"),
        ("\tjavascript:alert(1)", "tab before javascript"),
        ("\njavascript:alert(1)", "newline before javascript"),
        ("\r\n/x", "leading CRLF"),
        ("\0/x", "leading NUL"),
        ("/\t/evil.example", "tab between slashes"),
        ("/\n/evil.example", "LF between slashes"),
        ("/\r/evil.example", "CR between slashes"),
        ("/\r\n/evil.example", "CRLF between slashes"),
        ("java\tscript:alert(1)", "tab inside javascript"),
        ("java\nscript:alert(1)", "newline inside javascript"),
        ("/x\0", "trailing NUL"),
        ("/x\0y", "NUL inside"),
        ("/x\ny", "LF inside"),
        ("/x\ry", "CR inside"),
        ("/x\u{7f}", "DEL"),
        ("/x\u{1b}[31m", "escape sequence"),
        ("/x\u{8}", "backspace"),
        ("/\u{85}x", "C1 next-line"),
        ("/a?b=c\r\nSet-Cookie:x=y", "header injection in the query"),
        // Scheme-relative and backslashes.
        ("//evil.example", "scheme-relative"),
        ("//evil.example/path", "scheme-relative with path"),
        ("//", "bare double slash"),
        ("///evil.example", "triple slash"),
        ("////evil.example", "quadruple slash"),
        ("//@evil.example", "scheme-relative with empty credentials"),
        ("/\\evil.example", "slash backslash"),
        ("/\\", "bare slash backslash"),
        ("/\\/evil.example", "slash backslash slash"),
        ("\\\\evil.example", "UNC-style double backslash"),
        ("\\/evil.example", "backslash slash"),
        ("\\evil.example", "single backslash"),
        ("/a\\b", "backslash inside"),
        ("/path\\..\\..\\evil", "backslash traversal"),
        ("/?x=\\", "backslash in the query"),
        ("/#\\", "backslash in the fragment"),
        // Empty segments that normalise into a scheme-relative path.
        ("/..//evil.example", "dot-dot then double slash"),
        ("/.//evil.example", "dot then double slash"),
        ("/a/..//evil.example", "segment, dot-dot, double slash"),
        ("/%2e%2e//evil.example", "encoded dot-dot then double slash"),
        ("/a//b", "empty segment inside the path"),
        // Percent-encoded separators and controls, once and several times over.
        ("%2f%2fevil.example", "encoded scheme-relative"),
        ("%2F%2Fevil.example", "upper-case encoded scheme-relative"),
        ("%5c%5cevil.example", "encoded double backslash"),
        ("/%2fevil.example", "slash then encoded slash"),
        ("/%2Fevil.example", "slash then upper-case encoded slash"),
        ("/%5cevil.example", "slash then encoded backslash"),
        ("/%5Cevil.example", "slash then upper-case encoded backslash"),
        ("/a%2fb", "encoded slash inside"),
        ("/a?next=%2F%2Fevil.example", "encoded slashes in the query"),
        ("/a#%2f%2fevil.example", "encoded slashes in the fragment"),
        ("/%252fevil.example", "double-encoded slash"),
        ("/%252Fevil.example", "double-encoded upper-case slash"),
        ("/%255cevil.example", "double-encoded backslash"),
        ("/%25252fevil.example", "triple-encoded slash"),
        ("/%2525252fevil.example", "quadruple-encoded slash"),
        ("/%%32%66evil.example", "slash hidden in a split escape"),
        ("/%252%66evil.example", "slash hidden in mixed double encoding"),
        ("/%2525252525252541", "encoding nested deeper than we peel"),
        ("/%00", "encoded NUL"),
        ("/%09/evil.example", "encoded tab between slashes"),
        ("/%0a", "encoded LF"),
        ("/%0d%0aSet-Cookie:x=y", "encoded CRLF header injection"),
        ("/%250a", "double-encoded LF"),
        ("/%7f", "encoded DEL"),
        ("/%c2%85", "encoded C1 next-line"),
        ("/%e2%80%ae", "encoded right-to-left override"),
        ("/%ef%bb%bf", "encoded byte-order mark"),
        // Unicode lookalike slashes and backslashes.
        ("\u{FF0F}\u{FF0F}evil.example", "fullwidth solidus x2"),
        ("\u{FF0F}evil.example", "fullwidth solidus"),
        ("\u{2215}\u{2215}evil.example", "division slash x2"),
        ("\u{2044}\u{2044}evil.example", "fraction slash x2"),
        ("\u{29F8}evil.example", "big solidus"),
        ("\u{2571}evil.example", "box-drawing diagonal"),
        ("\u{FF3C}\u{FF3C}evil.example", "fullwidth reverse solidus x2"),
        ("\u{2216}evil.example", "set minus"),
        ("\u{29F5}evil.example", "reverse solidus operator"),
        ("\u{29F9}evil.example", "big reverse solidus"),
        ("\u{FE68}evil.example", "small reverse solidus"),
        ("/\u{FF0F}evil.example", "slash then fullwidth solidus"),
        ("/\u{2215}evil.example", "slash then division slash"),
        ("/\u{2044}evil.example", "slash then fraction slash"),
        ("/\u{FF3C}evil.example", "slash then fullwidth reverse solidus"),
        ("/\u{FE68}evil.example", "slash then small reverse solidus"),
        ("/%ef%bc%8fevil.example", "slash then encoded fullwidth solidus"),
        ("/%e2%88%95evil.example", "slash then encoded division slash"),
        // Not a path at all.
        ("", "empty"),
        ("foo/bar", "relative without slash"),
        ("./x", "dot-relative"),
        ("../x", "parent-relative"),
        ("?x", "query only"),
        ("#x", "fragment only"),
        (".", "dot"),
        ("..", "dot-dot"),
        ("x", "bare word"),
        ("evil.example", "bare host"),
        ("evil.example/path", "host and path without scheme"),
        ("@evil.example", "at-host"),
        ("~/x", "home-relative"),
        ("%2e%2e/x", "encoded parent-relative"),
        // Issue #13: whitespace and invisible format characters after the
        // first '/' (PortSwigger; TR36 §3 invisible characters).
        ("/ /x", "space segment (trimmed by some routers into '//x')"),
        ("/ //evil.example", "space before a double slash"),
        ("/x y", "space inside the path"),
        ("/\u{00A0}/x", "no-break space segment"),
        ("/\u{3000}/x", "ideographic space segment"),
        ("/\u{2007}/x", "figure space segment"),
        ("/\u{00AD}/x", "soft hyphen segment"),
        ("/a\u{00AD}b", "soft hyphen inside"),
        ("/\u{200D}/x", "zero-width joiner segment"),
        ("/\u{200C}/x", "zero-width non-joiner segment"),
        ("/a\u{200D}b", "zero-width joiner in Latin text (RFC 5892 A.2: only after a virama)"),
        ("/\u{2060}/x", "word joiner"),
        ("/\u{180E}/x", "Mongolian vowel separator"),
        ("/\u{3164}/x", "Hangul filler"),
        ("/a\u{E0041}", "tag character"),
        ("/%20/evil.example", "encoded space segment"),
        ("/%c2%a0/x", "encoded no-break space"),
        ("/%e3%80%80/x", "encoded ideographic space"),
        ("/%c2%ad/x", "encoded soft hyphen"),
        ("/%e2%80%8d/x", "encoded zero-width joiner"),
        ("/a?q=\u{200B}", "zero-width space in the query"),
        // Issue #13: overlong UTF-8 escapes of '/' and '\' (RFC 3629 §10;
        // the IIS Unicode traversal, CVE-2000-0884).
        ("/%c0%afevil.example", "overlong two-byte '/'"),
        ("/%c0%af%c0%afevil.example", "overlong '//'"),
        ("/%e0%80%afevil.example", "overlong three-byte '/'"),
        ("/%f0%80%80%afevil.example", "overlong four-byte '/'"),
        ("/%c1%9cevil.example", "overlong '\\'"),
        ("/%c0%ae%c0%ae//evil.example", "overlong dots"),
        ("/%25c0%25afevil.example", "double-encoded overlong '/'"),
        ("/%ff", "an escape that is not UTF-8"),
        ("/%c3", "a truncated UTF-8 sequence"),
        ("/%ed%a0%80", "an encoded surrogate"),
        ("/a?next=%c0%af%c0%afevil.example", "overlong slashes in the query"),
        // Issue #13: IIS-style %u escapes (PortSwigger; Microsoft IIS).
        ("/%u002f%u002fevil.example", "%u-encoded '//'"),
        ("/%u002fevil.example", "%u-encoded '/'"),
        ("/%U005Cevil.example", "%U-encoded '\\'"),
        ("/%u2215evil.example", "%u-encoded division slash"),
        ("/a?next=%u002f%u002fevil.example", "%u escapes in the query"),
        // Issue #13: full-width dots and solidus, which NFKC turns into '..//'
        // (TR36 §3; RFC 3986 §5.2.4 then removes the dots).
        ("/\u{FF0E}\u{FF0E}\u{FF0F}\u{FF0F}evil.example", "full-width '..//'"),
        ("/a/\u{FF0E}\u{FF0E}\u{FF0F}\u{FF0F}evil.example", "full-width '..//' after a segment"),
        ("/..\u{FF0F}\u{FF0F}evil.example", "dots then full-width '//'"),
        ("/a\u{FF0F}\u{FF0F}b", "full-width '//' inside the path"),
        ("/a\u{FF3C}b", "full-width reverse solidus inside"),
        ("/%ef%bc%8e%ef%bc%8e%ef%bc%8f%ef%bc%8fevil.example", "encoded full-width '..//'"),
        ("/\u{FF05}2f\u{FF05}2fevil.example", "full-width percent signs: NFKC gives '%2f%2f'"),
        // Nested open redirects: an encoded '//' or '\' in a query value
        // (OWASP; PortSwigger's chained open redirect).
        ("/login?next=%2F%2Fevil.example", "encoded '//' in a next parameter"),
        ("/login?next=%2F/evil.example", "half-encoded '//' in a next parameter"),
        ("/login?next=%252F%252Fevil.example", "double-encoded '//' in a next parameter"),
        ("/login?next=%5C%5Cevil.example", "encoded backslashes in a next parameter"),
        ("/login#%2F%2Fevil.example", "encoded '//' in the fragment"),
    ]
    .into_iter()
    .map(|(s, why)| (s.to_owned(), why))
    .collect();
    cases.push((format!("/{}", "a".repeat(ReturnTo::MAX_LEN)), "one byte over the length limit"));
    cases.push((format!("/{}", "é".repeat(ReturnTo::MAX_LEN)), "one character over the limit, in 2-byte characters"));
    cases.push((format!("/{}", "🎉".repeat(ReturnTo::MAX_LEN)), "one character over the limit, in 4-byte characters"));
    cases.push(("/".repeat(5000), "very long run of slashes"));
    cases
}

/// Ordinary return paths that must be accepted unchanged.
fn ordinary() -> Vec<String> {
    let mut cases: Vec<String> = [
        "/",
        "/a",
        "/a/b",
        "/a/b/",
        "/a?b=c",
        "/a?b=c#d",
        "/a#d",
        "/?",
        "/#",
        "/@user",
        "/@user/posts/3",
        "/café/ünïcode",
        "/日本",
        "/日本/東京?q=寿司",
        "/ノート",
        "/привет/мир",
        "/Straße",
        "/فارسی\u{200C}ها",
        "/emoji/🎉",
        "/search?q=a%20b",
        "/a%20b",
        "/%E6%97%A5%E6%9C%AC",
        "/search?q=a+b&page=2",
        "/rooms/42/thread/7",
        "/s/prod/rooms/1",
        "/users/me/settings#notifications",
        "/%2e%2e/x",
        "/../x",
        "/./x",
        "/a/../b",
        "/a.b.c",
        "/~user",
        "/a-b_c.d~e",
        "/path;param=1",
        "/a?next=/b",
        "/a?u=https://x.example/p",
        "/a#//fragment",
        "/q?x=100%",
        "/q?x=%2541",
        "/a:b",
        "/javascript:alert(1)",
        "/index.html",
        "/a/b/c/d/e/f/g",
        // Issue #13: ordinary paths refused before.
        "/login?next=%2Fdashboard",
        "/login?next=%2Frooms%2F42%3Ftab%3Dfiles",
        "/search?q=a%2Fb",
        "/a#section%2Fsub",
        // Joiners where words need them (RFC 5892 Appendix A).
        "/क्\u{200D}ष",
        "/क्\u{200C}ष",
        // Characters NFKC changes but that stay inside the path.
        "/\u{FF41}\u{FF42}\u{FF43}",
        "/ｶﾀｶﾅ",
        "/①",
        "/a%20b/c%20d",
        "/search?q=a b",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    cases.push(format!("/{}", "a".repeat(ReturnTo::MAX_LEN - 1)));
    // The limit counts characters: 2048 of them, whatever their UTF-8 size.
    cases.push(format!("/{}", "é".repeat(ReturnTo::MAX_LEN - 1)));
    cases.push(format!("/{}", "日".repeat(ReturnTo::MAX_LEN - 1)));
    cases.push(format!("/{}", "🎉".repeat(ReturnTo::MAX_LEN - 1)));
    cases
}

#[test]
fn at_least_100_hostile_inputs_are_refused() {
    let cases = hostile();
    assert!(cases.len() >= 100, "only {} hostile cases", cases.len());
    let mut accepted = Vec::new();
    for (i, (input, why)) in cases.iter().enumerate() {
        if let Ok(r) = ReturnTo::parse(input) {
            accepted.push(format!("#{i} {why}: {input:?} was accepted as {r:?}"));
        }
    }
    assert!(accepted.is_empty(), "{} hostile inputs accepted:\n{}", accepted.len(), accepted.join("\n"));
}

#[test]
fn hostile_inputs_do_not_deserialise_either() {
    for (input, why) in hostile() {
        let json = serde_json::to_string(&input).unwrap_or_else(|e| panic!("{why}: {e}"));
        assert!(serde_json::from_str::<ReturnTo>(&json).is_err(), "{why}: {input:?} deserialised");
    }
}

#[test]
fn at_least_30_ordinary_paths_are_accepted_unchanged() {
    let cases = ordinary();
    assert!(cases.len() >= 30, "only {} ordinary cases", cases.len());
    let base = Url::parse(BASE).unwrap_or_else(|e| panic!("base: {e}"));
    let mut refused = Vec::new();
    for (i, input) in cases.iter().enumerate() {
        match ReturnTo::parse(input) {
            Err(e) => refused.push(format!("#{i} {input:?} was refused: {e} ({e:?})")),
            Ok(r) => {
                assert_eq!(r.as_str(), input, "#{i}: as_str changed the input");
                assert_eq!(r.to_string(), *input, "#{i}: Display changed the input");
                assert_eq!(r.revalidate(), Ok(()), "#{i}: {input:?} failed revalidation");
                let resolved = base.join(r.as_str()).unwrap_or_else(|e| panic!("#{i}: {input:?} does not join: {e}"));
                assert_eq!(resolved.origin(), base.origin(), "#{i}: {input:?} left the origin: {resolved}");
            }
        }
    }
    assert!(refused.is_empty(), "{} ordinary paths refused:\n{}", refused.len(), refused.join("\n"));
}

#[test]
fn refusals_name_the_reason() {
    use ReturnToError as E;
    let cases: &[(&str, ReturnToError)] = &[
        ("", E::Empty),
        ("https://evil.example", E::AbsoluteUrl),
        ("javascript:alert(1)", E::AbsoluteUrl),
        ("foo/bar", E::NotRelative),
        ("//evil.example", E::SchemeRelative),
        ("/\\evil.example", E::SchemeRelative),
        ("\\\\evil.example", E::Backslash),
        ("/\t/evil.example", E::ControlCharacter),
        (" /x", E::LeadingWhitespace),
        ("\u{FF0F}\u{FF0F}evil.example", E::Lookalike),
        ("/%2fevil.example", E::EncodedSeparator),
        ("/%252fevil.example", E::EncodedSeparator),
        ("/%0a", E::EncodedControlCharacter),
        ("/..//evil.example", E::EmptySegment),
        ("/ /x", E::Whitespace),
        ("/\u{3000}/x", E::Whitespace),
        ("/%20/x", E::Whitespace),
        ("/\u{00AD}/x", E::InvisibleCharacter),
        ("/\u{200D}/x", E::InvisibleCharacter),
        ("/%c0%afevil.example", E::InvalidEscape),
        ("/%u002f%u002fevil.example", E::InvalidEscape),
        ("/\u{FF0E}\u{FF0E}\u{FF0F}\u{FF0F}evil.example", E::EmptySegment),
        ("/a\u{FF3C}b", E::Lookalike),
        ("/login?next=%2F%2Fevil.example", E::EncodedSeparator),
    ];
    for (input, want) in cases {
        assert_eq!(ReturnTo::parse(input), Err(*want), "reason for {input:?}");
    }
    let long = format!("/{}", "é".repeat(ReturnTo::MAX_LEN));
    assert_eq!(ReturnTo::parse(&long), Err(E::TooLong { len: ReturnTo::MAX_LEN + 1 }), "counted in characters");
    let huge = "/".to_owned() + &"a".repeat(1 << 20);
    assert_eq!(ReturnTo::parse(&huge), Err(E::TooLong { len: (1 << 20) + 1 }));
}

/// Strings built from the pieces attacks are made of.
fn tricky() -> impl Strategy<Value = String> {
    let atoms = prop::sample::select(vec![
        "/",
        "/",
        "/",
        "\\",
        "%",
        "2",
        "f",
        "F",
        "5",
        "c",
        "25",
        "%2f",
        "%5c",
        "%25",
        "%2e",
        "a",
        "é",
        "日",
        "\u{FF0F}",
        "\u{2215}",
        "?",
        "#",
        "@",
        ".",
        "..",
        ":",
        " ",
        "\t",
        "\n",
        "javascript:",
        "https:",
        "//",
        "evil.example",
    ]);
    // Half the inputs start with '/', so that a fair share get past the first check.
    (any::<bool>(), prop::collection::vec(atoms, 0..12))
        .prop_map(|(slash, parts)| format!("{}{}", if slash { "/" } else { "" }, parts.concat()))
}

fn check_accepted(input: &str) -> Result<(), TestCaseError> {
    let Ok(r) = ReturnTo::parse(input) else {
        return Ok(());
    };
    let s = r.as_str();
    prop_assert!(s.starts_with('/'), "{s:?} does not start with '/'");
    prop_assert!(!s.starts_with("//") && !s.starts_with("/\\"), "{s:?} is scheme-relative");
    prop_assert!(!s.contains('\\') && !s.chars().any(char::is_control), "{s:?}");
    prop_assert_eq!(ReturnTo::parse(s), Ok(r.clone()));
    let json = serde_json::to_string(&r).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(serde_json::from_str::<ReturnTo>(&json).ok(), Some(r.clone()));
    let base = Url::parse(BASE).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let resolved = base.join(s).map_err(|e| TestCaseError::fail(format!("{s:?}: {e}")))?;
    prop_assert_eq!(resolved.origin(), base.origin(), "{:?} left the origin", s);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn accepted_paths_start_with_one_slash_and_round_trip(input in tricky()) {
        check_accepted(&input)?;
    }

    #[test]
    fn accepted_arbitrary_strings_start_with_one_slash_and_round_trip(input in "/?\\PC{0,40}") {
        check_accepted(&input)?;
    }

    #[test]
    fn scheme_relative_prefixes_are_always_refused(rest in "\\PC{0,40}", prefix in prop::sample::select(vec!["//", "/\\", "\\", "\\\\"])) {
        let input = format!("{prefix}{rest}");
        prop_assert!(ReturnTo::parse(&input).is_err(), "{:?} accepted", input);
    }
}
