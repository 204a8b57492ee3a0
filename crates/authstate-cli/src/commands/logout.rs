//! `logout <alias>`: signs out locally at once, then revokes at the server
//! when it can, and says which of the two happened.
//!
//! Guarantees: the server is asked to revoke whatever the local sign-out
//! does; a sign-out the stores refuse (a full disk) stays in effect in this
//! command, is kept in the refresh journal where the disk allows it (the
//! next commands then find the server signed out, as `status` shows), and
//! ends with exit 7 saying what remains on disk (see `App::settle`).

use authstate::RevocationOutcome;

use crate::app::App;
use crate::exit::CliError;
use crate::output::{say, spin};

/// Signs out of `alias` and reports what the server did. The device is
/// signed out whatever the server says (exit 0); a store that cannot record
/// it fails (exit 7), after the line about the server.
pub async fn run(app: &App, alias: &str) -> Result<(), CliError> {
    let session = app.session(alias)?;
    let (report, local) = spin("Signing out", session.sign_out_reporting()).await;
    say(&sign_out_text(alias, &report.revocation));
    local.map_err(|e| CliError::from(e).for_server(alias))
}

/// What a sign-out did, in one line (shared with `server remove`).
pub fn sign_out_text(alias: &str, revocation: &RevocationOutcome) -> String {
    match revocation {
        RevocationOutcome::Revoked => format!("Signed out of {alias}; the server revoked the session."),
        RevocationOutcome::NotSupported => format!(
            "Signed out of {alias} on this device; the server has no revocation, so its tokens stay valid until they expire."
        ),
        RevocationOutcome::NothingToRevoke => format!("{alias} was not signed in."),
        RevocationOutcome::Failed(error) => format!(
            "Signed out of {alias} on this device, but revoking at the server failed ({error}); its tokens stay valid there until they expire."
        ),
    }
}
