//! `logout <alias>`: signs out locally at once, then revokes at the server
//! when it can, and says which of the two happened. `logout <alias>
//! --everywhere`: asks an opaque-token server to end every device session of
//! the account, then signs out here.
//!
//! Guarantees: the server is asked to revoke whatever the local sign-out
//! does; a sign-out the stores refuse (a full disk) stays in effect in this
//! command, is kept in the refresh journal where the disk allows it (the
//! next commands then find the server signed out, as `status` shows), and
//! ends with exit 7 saying what remains on disk (see `App::settle`).
//! `--everywhere` on a server without a log-out-everywhere call is a usage
//! error (exit 2) before anything is sent, and changes nothing; when the
//! server cannot be reached nothing changes either (exit 5), since this
//! device's token is needed to try again.

use authstate::{AccountError, Provider, RevocationOutcome, SessionError, StateKind};

use crate::app::App;
use crate::exit::CliError;
use crate::output::{provider_name, say, spin};

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

/// Signs every device of the account out at `alias` (an opaque-token
/// server with a log-out-everywhere endpoint), this one included.
pub async fn everywhere(app: &App, alias: &str) -> Result<(), CliError> {
    let session = app.session(alias)?;
    let info = session.info();
    if !matches!(&info.provider, Provider::OpaqueToken(config) if config.logout_all_path.is_some()) {
        return Err(not_supported(alias, &info.provider));
    }
    if session.state_kind() == StateKind::NoSession {
        return Err(CliError::from(SessionError::SignedOut).for_server(alias).with_hint(format!(
            "signing out every device needs this device's session: run `authstate login {alias}`, \
             then `authstate logout {alias} --everywhere`"
        )));
    }
    spin("Signing out every device", app.auth()?.sign_out_everywhere(alias)).await.map_err(|e| match e {
        AccountError::NotSupported(_) => not_supported(alias, &info.provider),
        other => CliError::from(other).for_server(alias),
    })?;
    say(&format!("Signed out of {alias} on every device; the server ended all of the account's sessions."));
    Ok(())
}

/// `--everywhere` on a server that cannot do it (exit 2).
fn not_supported(alias: &str, provider: &Provider) -> CliError {
    let why = match provider {
        Provider::OpaqueToken(_) => "its server entry has no log-out-all endpoint".to_owned(),
        other => format!(
            "only opaque-token servers can sign out every device, and {alias} is --provider {}",
            provider_name(other.kind())
        ),
    };
    CliError::usage(format!("{alias}: cannot sign out every device: {why}; nothing was changed"))
        .with_hint(format!("run `authstate logout {alias}` to sign out this device"))
}
