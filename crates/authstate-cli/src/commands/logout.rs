//! `logout <alias>`: signs out locally at once, then revokes at the server
//! when it can, and says which of the two happened.

use authstate::RevocationOutcome;

use crate::app::App;
use crate::exit::CliError;
use crate::output::{say, spin};

/// Signs out of `alias` and reports what the server did. The device is
/// signed out whatever the server says (exit 0); only a secret store that
/// cannot delete the tokens fails (exit 7).
pub async fn run(app: &App, alias: &str) -> Result<(), CliError> {
    app.session(alias)?;
    let report =
        spin("Signing out", app.auth.sign_out(alias)).await.map_err(|e| CliError::from(e).for_server(alias))?;
    say(&sign_out_text(alias, &report.revocation));
    Ok(())
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
