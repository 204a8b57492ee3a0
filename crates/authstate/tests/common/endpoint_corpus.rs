//! The endpoint-path corpora of `tests/data/` (hostile and ordinary paths),
//! shared by the core, FFI and CLI tests. Each line is a JSON string literal
//! (the path) followed by why it is there; `#` starts a comment line.
#![allow(dead_code)]

/// Where the hostile corpus sends credentials when it succeeds: a listener
/// that is not the server. Tests swap in the address of a real one.
pub const THIEF: &str = "127.0.0.1:8766";

/// One corpus entry.
#[derive(Debug, Clone)]
pub struct Case {
    /// The endpoint path.
    pub path: String,
    /// Why it is in the corpus.
    pub why: String,
}

impl Case {
    /// The path with [`THIEF`] replaced by `address`.
    pub fn aimed_at(&self, address: &str) -> String {
        self.path.replace(THIEF, address)
    }
}

/// Paths that must be refused, and one built here: a path over the length limit.
pub fn hostile() -> Vec<Case> {
    let mut cases = parse(include_str!("../data/hostile_endpoint_paths.txt"));
    cases.push(Case { path: "a/".repeat(1100), why: "over the 2048-byte limit".into() });
    cases
}

/// Paths that must be accepted.
pub fn ordinary() -> Vec<Case> {
    parse(include_str!("../data/ordinary_endpoint_paths.txt"))
}

fn parse(text: &str) -> Vec<Case> {
    text.lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .map(|line| {
            let mut stream = serde_json::Deserializer::from_str(line).into_iter::<String>();
            let path = match stream.next() {
                Some(Ok(path)) => path,
                other => panic!("corpus line {line:?} does not start with a JSON string: {other:?}"),
            };
            let why = line.get(stream.byte_offset()..).unwrap_or_default().trim().to_owned();
            assert!(!why.is_empty(), "corpus line {line:?} gives no reason");
            Case { path, why }
        })
        .collect()
}
