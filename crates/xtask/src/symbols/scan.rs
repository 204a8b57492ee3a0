//! A scanner for generated Swift and Dart source, enough to list
//! declarations without a parser: [`strip`] removes comments and string
//! contents, [`heads`] cuts the rest into statement heads with their brace
//! depth, [`normalise`] gives each head one canonical spelling.

/// One statement's head: from its first character to where its body starts
/// (`{`, `=>`) or where it ends, whitespace normalised.
pub(crate) struct Head {
    /// Brace depth at the head's start (0: top level).
    pub(crate) depth: usize,
    pub(crate) text: String,
    /// Whether a `{` body follows.
    pub(crate) opens: bool,
}

/// `source` without comments and with every string literal emptied (quotes
/// kept), so nothing inside a string or comment can mislead [`heads`].
/// `quotes` are the language's string delimiters.
pub(crate) fn strip(source: &str, quotes: &[char]) -> String {
    let mut out = String::with_capacity(source.len());
    let mut chars = source.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => while chars.next_if(|&n| n != '\n').is_some() {},
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut prev = None;
                for n in chars.by_ref() {
                    if prev == Some('*') && n == '/' {
                        break;
                    }
                    prev = Some(n);
                }
            }
            q if quotes.contains(&q) => {
                let mut end = None;
                while let Some(n) = chars.next() {
                    match n {
                        '\\' => drop(chars.next()),
                        n if n == q || n == '\n' => {
                            end = Some(n);
                            break;
                        }
                        _ => {}
                    }
                }
                out.extend([q, q]);
                out.extend(end.filter(|&e| e == '\n'));
            }
            _ => out.push(c),
        }
    }
    out
}

/// Cuts stripped source into statement heads. A head ends at `{` (a body),
/// `=>` (its expression is skipped to its end), `;`, a closing `}`, or — when
/// `newline_ends` (Swift) — a line end outside brackets.
pub(crate) fn heads(clean: &str, newline_ends: bool) -> Vec<Head> {
    let mut out = Vec::new();
    let (mut depth, mut nest) = (0usize, 0usize);
    let mut head: Option<Head> = None;
    let mut chars = clean.chars().peekable();
    while let Some(c) = chars.next() {
        let Some(h) = head.as_mut() else {
            match c {
                '{' => depth += 1,
                '}' => depth = depth.saturating_sub(1),
                c if c.is_whitespace() || c == ';' || c == ',' => {}
                _ => {
                    nest = usize::from(matches!(c, '(' | '['));
                    head = Some(Head { depth, text: c.to_string(), opens: false });
                }
            }
            continue;
        };
        let ends = match c {
            '(' | '[' => {
                nest += 1;
                false
            }
            ')' | ']' => {
                nest = nest.saturating_sub(1);
                false
            }
            _ if nest > 0 => false,
            '{' => {
                h.opens = true;
                depth += 1;
                true
            }
            '}' => {
                depth = depth.saturating_sub(1);
                true
            }
            ';' => true,
            '=' if chars.peek() == Some(&'>') => {
                skip_expression(&mut chars);
                true
            }
            '\n' => newline_ends,
            _ => false,
        };
        if !ends {
            h.text.push(c);
            continue;
        }
        if let Some(done) = head.take() {
            out.push(Head { text: normalise(&done.text), ..done });
        }
    }
    out.extend(head.map(|h| Head { text: normalise(&h.text), ..h }));
    out
}

/// The identifier `text` ends with (after trailing spaces), or `""`.
pub(crate) fn trailing_ident(text: &str) -> &str {
    let text = text.trim_end();
    let ident = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    let start = text.char_indices().rev().find(|&(_, c)| !ident(c)).map_or(0, |(i, c)| i + c.len_utf8());
    &text[start..]
}

/// Skips a `=> expression` body: through its `;` or `,` (a switch arm), or up
/// to (not through) a bracket that closes around it.
fn skip_expression(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    let mut nest = 0usize;
    while let Some(&c) = chars.peek() {
        match c {
            ')' | ']' | '}' if nest == 0 => return,
            '(' | '[' | '{' => nest += 1,
            ')' | ']' | '}' => nest -= 1,
            ';' | ',' if nest == 0 => {
                chars.next();
                return;
            }
            _ => {}
        }
        chars.next();
    }
}

/// One space between tokens, none inside brackets or before `,`, a space
/// between `)` and a following word (`)throws`), no trailing comma.
fn normalise(text: &str) -> String {
    let words = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let chars: Vec<char> = words.chars().collect();
    let mut out = String::with_capacity(words.len());
    for (i, &c) in chars.iter().enumerate() {
        let next = chars.get(i + 1).copied();
        let after_space = if next == Some(' ') { chars.get(i + 2).copied() } else { next };
        match c {
            ' ' if out.ends_with(['(', '[', '{']) || matches!(next, Some(')' | ']' | '}' | ',')) => {}
            ',' if matches!(after_space, None | Some(')' | ']' | '}')) => {}
            _ => {
                if c.is_alphanumeric() && out.ends_with(')') {
                    out.push(' ');
                }
                out.push(c);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_removes_comments_and_string_contents() {
        let clean = strip("a /* { */ b // }\nc \"{\\\"}\" d 'x'", &['"', '\'']);
        assert_eq!(clean, "a  b \nc \"\" d ''");
    }

    #[test]
    fn heads_follow_depth_and_skip_expression_bodies() {
        let src = "class A {\n  bool operator ==(Object o) =>\n   o is A && f(x, y);\n  String e() {\n    return switch (v) {\n      A.b => '}',\n      _ => 'c'\n    };\n  }\n  const A({\n required this.x,\n });\n}\n";
        let found: Vec<(usize, String, bool)> =
            heads(&strip(src, &['\'']), false).into_iter().map(|h| (h.depth, h.text, h.opens)).collect();
        assert_eq!(
            found,
            [
                (0, "class A".into(), true),
                (1, "bool operator ==(Object o)".into(), false),
                (1, "String e()".into(), true),
                (2, "return switch (v)".into(), true),
                (3, "A.b".into(), false),
                (3, "_".into(), false),
                (1, "const A({required this.x})".into(), false),
            ]
        );
        let swift = heads("case active(\n  x: Int?\n)\nopen func f()throws  -> T  {\n}", true);
        let texts: Vec<&str> = swift.iter().map(|h| h.text.as_str()).collect();
        assert_eq!(texts, ["case active(x: Int?)", "open func f() throws -> T"]);
    }
}
