//! `status`: every server's sign-in state, how long its access token has
//! left, and how many other devices the account is signed in on. No
//! network; the only write is an earlier command's state that the stores
//! refused, saved at open if they now take it. A state still waiting to be
//! saved (kept in a refresh journal) is shown as it is in use, marked
//! `(not saved)`, as `token` and `logout` describe it.

use authstate::{ServerSession, StateKind};
use serde::Serialize;
use time::OffsetDateTime;

use crate::app::App;
use crate::exit::CliError;
use crate::output::{Table, human_duration, json, out, provider_name, reason_text, say};

/// One server's status, as JSON prints it.
#[derive(Debug, Serialize)]
struct Row {
    alias: String,
    url: String,
    provider: &'static str,
    /// `no_session`, `active` or `expired`.
    state: StateKind,
    /// Why the session expired, in words (only when `expired`).
    expiry_reason: Option<&'static str>,
    /// Seconds the access token has left (negative once expired); `None`
    /// when signed out or the server gave no lifetime.
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
        let expires = r.expires_in_secs.map_or_else(|| "-".to_owned(), human_duration);
        let others = r.other_devices.map_or_else(|| "-".to_owned(), |n| n.to_string());
        table.row(vec![r.alias.clone(), r.url.clone(), state, expires, others]);
    }
    out(&table.render())
}

fn row(session: &ServerSession, now: OffsetDateTime) -> Row {
    let info = session.info();
    let state = session.state();
    let device = session.device_summary();
    Row {
        alias: info.alias.to_string(),
        url: info.id.to_string(),
        provider: provider_name(info.provider.kind()),
        state: state.kind(),
        expiry_reason: state.expiry_reason().map(reason_text),
        expires_in_secs: state.tokens().and_then(|t| t.expires_in(now)),
        other_devices: device.map(|d| d.other_sessions),
        persistence_pending: session.persistence_pending(),
    }
}
