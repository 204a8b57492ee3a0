//! `sessions <alias> [revoke <id>]`: the account's device sessions at an
//! opaque-token server, this device's marked; revoking one (revoking this
//! device's own session signs it out here too).

use authstate::DeviceSession;

use crate::app::App;
use crate::exit::CliError;
use crate::output::{Table, json, out, say, spin, timestamp};

/// Lists the device sessions of `alias` as a table (or JSON); the core keeps
/// how many other devices there are, for `status`.
pub async fn list(app: &App, alias: &str, as_json: bool) -> Result<(), CliError> {
    let sessions = fetch(app, alias).await?;
    if as_json {
        return json(&sessions);
    }
    if sessions.is_empty() {
        say(&format!("{alias}: no device sessions."));
        return Ok(());
    }
    let mut table = Table::new(&["", "ID", "DEVICE", "CREATED", "LAST SEEN"]);
    for s in &sessions {
        table.row(vec![
            if s.is_current { "*".into() } else { String::new() },
            s.id.to_string(),
            s.device_label.clone().unwrap_or_else(|| "-".into()),
            s.created_at.as_deref().map_or_else(|| "-".into(), timestamp),
            s.last_seen_at.as_deref().map_or_else(|| "-".into(), timestamp),
        ]);
    }
    out(&table.render())?;
    if sessions.iter().any(|s| s.is_current) {
        say("* this device");
    }
    Ok(())
}

/// Revokes the device session `id` of `alias`. Revoking this device's own
/// session signs it out here too (the core knows its own session id).
pub async fn revoke(app: &App, alias: &str, id: i64) -> Result<(), CliError> {
    let session = app.session(alias)?;
    let own = session.device_summary().is_some_and(|d| d.session_id == Some(id));
    spin("Revoking the session", app.auth()?.revoke_device_session(alias, id))
        .await
        .map_err(|e| CliError::from(e).for_server(alias))?;
    if own {
        say(&format!("Revoked session {id}: it was this device's, so {alias} is now signed out here."));
    } else {
        say(&format!("Revoked session {id} at {alias}."));
    }
    Ok(())
}

async fn fetch(app: &App, alias: &str) -> Result<Vec<DeviceSession>, CliError> {
    app.session(alias)?;
    spin("Listing device sessions", app.auth()?.device_sessions(alias))
        .await
        .map_err(|e| CliError::from(e).for_server(alias))
}
