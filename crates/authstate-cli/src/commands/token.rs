//! `token <alias>`: a usable access token on stdout, refreshed first when it
//! is due, followed by a newline and nothing else (everything else goes to
//! stderr), so `$(authstate token prod)` is the token.
//!
//! Guarantees: parallel calls for one server share one refresh (the core's
//! refresh lease), calls for different servers run side by side; rotated
//! tokens that could not be saved are printed (the server retired the old
//! ones) but never reported as a plain success: the command then exits 7
//! saying where they are kept (see `App::settle`).

use serde::Serialize;

use crate::app::App;
use crate::exit::CliError;
use crate::output::{json, out, spin};

#[derive(Serialize)]
struct TokenJson<'a> {
    access_token: &'a str,
    /// Seconds until the access token expires; `None` when the server gave no lifetime.
    expires_in_secs: Option<i64>,
}

/// Prints a fresh access token for `alias` (or, with `as_json`, the token and
/// its remaining lifetime as JSON).
pub async fn run(app: &App, alias: &str, as_json: bool) -> Result<(), CliError> {
    let session = app.session(alias)?;
    let token = spin("Refreshing the token", session.fresh_access_token())
        .await
        .map_err(|e| CliError::from(e).for_server(alias))?;
    if !as_json {
        return out(&format!("{}\n", token.expose()));
    }
    let now = app.manager.clock().now();
    let expires_in_secs = session.state().tokens().filter(|t| t.access == token).and_then(|t| t.expires_in(now));
    json(&TokenJson { access_token: token.expose(), expires_in_secs })
}
