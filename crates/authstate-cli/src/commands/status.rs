//! `status`: every server's sign-in state, how long its access token has
//! left, and how many other devices the account is signed in on. No
//! network; the only write is an earlier command's state that the stores
//! refused, saved at open if they now take it. A state still waiting to be
//! saved (kept in a refresh journal) is shown as it is in use, marked
//! `(not saved)`, as `token` and `logout` describe it.
//!
//! The columns agree: EXPIRES IN is the access token's lifetime beside an
//! active state only (`refresh due` once it has lapsed: the next `token`
//! refreshes it first), `-` beside an expired or signed-out one; an active
//! session whose access token has lapsed with no refresh token to renew it
//! is shown as the next command will find it, `expired (no refresh token)`.

use authstate::{ExpiryReason, ProviderKind, ServerSession, SessionState, StateKind};
use serde::Serialize;
use time::OffsetDateTime;

use crate::app::App;
use crate::exit::CliError;
use crate::output::{Table, human_duration, json, out, reason_text, say};

/// One server's status, as JSON prints it.
#[derive(Debug, Serialize)]
struct Row {
    alias: String,
    url: String,
    /// `oidc`, `token_pair` or `opaque_token`, as `server list --json` spells it.
    provider: ProviderKind,
    /// `no_session`, `active` or `expired`, as the next command finds it: an
    /// active session whose access token has lapsed with no refresh token to
    /// renew it is `expired` (`no refresh token`).
    state: StateKind,
    /// Why the session expired, in words (only when `expired`).
    expiry_reason: Option<&'static str>,
    /// Seconds the access token has left, for an active session only: zero
    /// or less when it is due (the next `token` refreshes it first). `None`
    /// when signed out or expired, or the server gave no lifetime.
    expires_in_secs: Option<i64>,
    /// Other devices signed in to the account, when a multi-device server said.
    other_devices: Option<u32>,
    /// The state is in use but the stores could not save it yet (it is kept
    /// in the server's refresh journal where the disk allows).
    persistence_pending: bool,
}

/// Prints the status of every server.
pub fn run(app: &App, as_json: bool) -> Result<(), CliError> {
    let now = app.manager.clock().now();
    let rows: Vec<Row> = app.manager.sessions().iter().map(|s| row(s, now)).collect();
    if as_json {
        return json(&rows);
    }
    if rows.is_empty() {
        say("No servers yet. Add one with: authstate server add <url> --alias <alias>");
        return Ok(());
    }
    let mut table = Table::new(&["ALIAS", "URL", "STATE", "EXPIRES IN", "OTHER DEVICES"]);
    for r in &rows {
        let state = match (r.state, r.expiry_reason) {
            (StateKind::NoSession, _) => "signed out".to_owned(),
            (StateKind::Active, _) => "active".to_owned(),
            (StateKind::Expired, Some(reason)) => format!("expired ({reason})"),
            (StateKind::Expired, None) => "expired".to_owned(),
        };
        let state = if r.persistence_pending { format!("{state} (not saved)") } else { state };
        table.row(vec![r.alias.clone(), r.url.clone(), state, expires_cell(r), others_cell(r)]);
    }
    out(&table.render())
}

/// The EXPIRES IN cell: the access token's lifetime left, only beside an
/// active state (`refresh due` once it has lapsed); `-` otherwise.
fn expires_cell(row: &Row) -> String {
    match (row.state, row.expires_in_secs) {
        (StateKind::Active, Some(secs)) if secs > 0 => human_duration(secs),
        (StateKind::Active, Some(_)) => "refresh due".to_owned(),
        _ => "-".to_owned(),
    }
}

fn others_cell(row: &Row) -> String {
    row.other_devices.map_or_else(|| "-".to_owned(), |n| n.to_string())
}

fn row(session: &ServerSession, now: OffsetDateTime) -> Row {
    let info = session.info();
    let state = session.state();
    let device = session.device_summary();
    let (state, expiry_reason, expires_in_secs) = match &state {
        SessionState::Active { tokens, .. } if tokens.is_expired(now) && tokens.refresh.is_none() => {
            // Nothing can renew it: the next `token` finds it expired, without the network.
            (StateKind::Expired, Some(ExpiryReason::NoRefreshToken), None)
        }
        SessionState::Active { tokens, .. } => (StateKind::Active, None, tokens.expires_in(now)),
        other => (other.kind(), other.expiry_reason(), None),
    };
    Row {
        alias: info.alias.to_string(),
        url: info.id.to_string(),
        provider: info.provider.kind(),
        state,
        expiry_reason: expiry_reason.map(reason_text),
        expires_in_secs,
        other_devices: device.map(|d| d.other_sessions),
        persistence_pending: session.persistence_pending(),
    }
}
