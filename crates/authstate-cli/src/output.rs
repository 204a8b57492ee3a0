//! What the CLI prints: tables and JSON on stdout, notes on stderr, human
//! durations and timestamps, and a spinner during network waits.
//!
//! Guarantees: the spinner draws only when stderr is a terminal, so piped
//! output carries nothing extra; a closed stdout (`| head`) ends the output
//! quietly instead of panicking; nothing here ever formats a secret.

use std::future::Future;
use std::io::{ErrorKind, IsTerminal, Write};
use std::time::Duration;

use authstate::{ExpiryReason, ProviderKind};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::exit::CliError;

/// Writes `text` to stdout. A closed pipe is not an error: the reader has
/// what it wanted.
pub fn out(text: &str) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::internal(format!("cannot write to stdout: {e}"))),
    }
}

/// Prints `value` as pretty JSON, followed by a newline, on stdout.
pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<(), CliError> {
    let text =
        serde_json::to_string_pretty(value).map_err(|e| CliError::internal(format!("cannot encode JSON: {e}")))?;
    out(&format!("{text}\n"))
}

/// Prints one line of information for the user on stderr.
pub fn say(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// A table: left-aligned columns separated by two spaces.
#[derive(Debug, Clone, Default)]
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(headers: &[&str]) -> Self {
        Self { rows: vec![headers.iter().map(|h| (*h).to_owned()).collect()] }
    }

    /// Adds a row (as many cells as headers).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as text, one line per row, trailing spaces trimmed.
    pub fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| self.rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0))
            .collect();
        let mut text = String::new();
        for row in &self.rows {
            let line: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
            text.push_str(line.join("  ").trim_end());
            text.push('\n');
        }
        text
    }
}

/// `4m 10s`, `2h 5m`, `3d 4h`; `0s` at or below zero (whether that means
/// expired is for the caller to say).
pub fn human_duration(secs: i64) -> String {
    if secs <= 0 {
        return "0s".into();
    }
    let (d, h, m, s) = (secs / 86_400, secs % 86_400 / 3_600, secs % 3_600 / 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

/// Why a session expired, in words.
pub fn reason_text(reason: ExpiryReason) -> &'static str {
    match reason {
        ExpiryReason::RefreshRejected => "the server rejected the refresh token",
        ExpiryReason::NoRefreshToken => "no refresh token",
        ExpiryReason::Unauthorized => "the server refused the token",
        ExpiryReason::StaleToken => "the server no longer accepts the token",
        ExpiryReason::Marked => "marked expired",
        ExpiryReason::Misconfigured => "the refresh endpoint is misconfigured",
        ExpiryReason::RefreshInterrupted => "a refresh was interrupted and the server rotated the tokens meanwhile",
        _ => "expired",
    }
}

/// The provider kind as the CLI's `--provider` flag spells it, for people
/// (tables, messages). JSON spells it as the core and the FFI do
/// (`oidc`, `token_pair`, `opaque_token`: [`ProviderKind`]'s serde names).
pub fn provider_name(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Oidc => "oidc",
        ProviderKind::TokenPair => "token-pair",
        ProviderKind::OpaqueToken => "opaque",
    }
}

/// A server timestamp (RFC 3339) as `2026-01-31 14:05 UTC`; anything else as given.
pub fn timestamp(raw: &str) -> String {
    use time::format_description::well_known::Rfc3339;
    match time::OffsetDateTime::parse(raw, &Rfc3339) {
        Ok(at) => {
            let at = at.to_offset(time::UtcOffset::UTC);
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02} UTC",
                at.year(),
                u8::from(at.month()),
                at.day(),
                at.hour(),
                at.minute()
            )
        }
        Err(_) => raw.to_owned(),
    }
}

/// A spinner appears only for work that takes longer than this, so the fast
/// path (`$(authstate token prod)` with a valid token) draws nothing.
const SPINNER_DELAY: Duration = Duration::from_millis(250);

/// Runs `work` with a spinner showing `message` on stderr when stderr is a
/// terminal and the work takes a while; the spinner is cleared when the work
/// ends (or is dropped).
pub async fn spin<F: Future>(message: &str, work: F) -> F::Output {
    if !std::io::stderr().is_terminal() {
        return work.await;
    }
    let mut work = std::pin::pin!(work);
    tokio::select! {
        out = &mut work => return out,
        () = tokio::time::sleep(SPINNER_DELAY) => {}
    }
    let _spinner = Spinner::start(message);
    work.await
}

/// A spinner on stderr, cleared when dropped.
struct Spinner(ProgressBar);

impl Spinner {
    fn start(message: &str) -> Self {
        let bar = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}") {
            bar.set_style(style);
        }
        bar.set_message(format!("{message}…"));
        bar.enable_steady_tick(Duration::from_millis(100));
        Self(bar)
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_person_would_say_them() {
        assert_eq!(human_duration(0), "0s");
        assert_eq!(human_duration(-5), "0s");
        assert_eq!(human_duration(42), "42s");
        assert_eq!(human_duration(250), "4m 10s");
        assert_eq!(human_duration(7_500), "2h 5m");
        assert_eq!(human_duration(3 * 86_400 + 4 * 3_600 + 59), "3d 4h");
    }

    #[test]
    fn tables_align_columns() {
        let mut t = Table::new(&["ALIAS", "STATE"]);
        t.row(vec!["prod".into(), "active".into()]);
        t.row(vec!["a-long-alias".into(), "signed out".into()]);
        assert_eq!(t.render(), "ALIAS         STATE\nprod          active\na-long-alias  signed out\n");
    }

    #[test]
    fn timestamps_are_shown_in_utc_minutes() {
        assert_eq!(timestamp("2026-01-31T14:05:59.123456Z"), "2026-01-31 14:05 UTC");
        assert_eq!(timestamp("2026-01-31T15:05:00+01:00"), "2026-01-31 14:05 UTC");
        assert_eq!(timestamp("yesterday"), "yesterday");
    }
}
