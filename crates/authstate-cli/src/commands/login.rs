//! `login <alias>`: the OIDC browser round-trip through a loopback redirect
//! (RFC 8252), or a username and password for token-pair and opaque servers.
//!
//! Guarantees: the sign-in URL is always printed on stderr, and opening a
//! browser never blocks the login; the password is read without echo (or
//! from stdin), sent once, and never printed, logged or put in an error; a
//! login whose tokens could not be saved is an error (exit 7, saying whether
//! the next command finds them in the refresh journal), and so is, before
//! any password is sent, a keyring that does not keep entries from one
//! process to the next unless the store directory can switch to the file
//! store (see `secrets.rs`). A successful login allocates the server's
//! refresh journal, so that a disk that fills up later can still keep
//! rotated tokens.

use std::time::Duration;

use authstate::backends::oidc::LoopbackReceiver;
use authstate::{LoginError, LoginOutcome, ProviderKind};

use crate::app::{App, StoreDir};
use crate::cli::{GlobalArgs, LoginArgs};
use crate::exit::{CliError, Exit};
use crate::output::{say, spin};
use crate::prompt;
use crate::secrets;

/// Signs in to the server `args.alias`. The stores are opened again after
/// the browser or the password prompt, so a login sees what other commands
/// did meanwhile.
pub async fn run(global: &GlobalArgs, args: &LoginArgs) -> Result<(), CliError> {
    // Before this process touches the keyring: its check runs in processes
    // started as the next command will be.
    secrets::settle_for_login(global, &StoreDir::open(global)?)?;
    let kind = App::open(global)?.session(&args.alias)?.info().provider.kind();
    match kind {
        ProviderKind::Oidc => browser_login(global, args).await,
        ProviderKind::TokenPair | ProviderKind::OpaqueToken => password_login(global, args).await,
    }
}

async fn browser_login(global: &GlobalArgs, args: &LoginArgs) -> Result<(), CliError> {
    let alias = args.alias.as_str();
    if args.username.is_some() || args.password_stdin {
        return Err(CliError::usage(format!(
            "{alias} signs in with a browser (OIDC); --username and --password-stdin are for token-pair and opaque servers"
        )));
    }
    let receiver = LoopbackReceiver::bind("/callback").await?;
    let redirect_uri = receiver.redirect_uri();
    let url = {
        // The pending login (PKCE verifier, state) is saved in the secret store here.
        let app = App::open(global)?;
        let begin = app.auth()?.begin_login_with_redirect(alias, None, &redirect_uri);
        spin("Contacting the identity provider", begin).await.map_err(|e| login_error(e, alias))?
    };
    say(&format!("Open this URL to sign in: {url}"));
    if !args.no_browser && has_display() {
        open_browser(url.to_string());
    }
    let callback = spin(
        "Waiting for the browser",
        tokio::time::timeout(Duration::from_secs(args.timeout), receiver.receive(None)),
    )
    .await
    .map_err(|_elapsed| {
        CliError::new(Exit::SignInRequired, format!("no sign-in within {} s", args.timeout))
            .for_server(alias)
            .with_hint(format!("run `authstate login {alias}` again (or give more time with --timeout SECS)"))
    })??;
    // Fresh stores: other commands may have written while the browser was open.
    let app = App::open(global)?;
    let outcome = spin("Completing the sign-in", app.auth()?.complete_login(&callback))
        .await
        .map_err(|e| login_error(e, alias))?;
    finish(&app, alias, &outcome)
}

async fn password_login(global: &GlobalArgs, args: &LoginArgs) -> Result<(), CliError> {
    let alias = args.alias.as_str();
    let username = match &args.username {
        Some(name) if !name.trim().is_empty() => name.trim().to_owned(),
        Some(_) => return Err(CliError::usage("the username is empty")),
        None => prompt::line("Username: ", "--username")?,
    };
    let password = if args.password_stdin {
        prompt::password_from_stdin()?
    } else {
        prompt::password(&format!("Password for {username} at {alias}: "))?
    };
    let label = args.device_label.clone().unwrap_or_else(default_device_label);
    let app = App::open(global)?;
    let outcome = spin("Signing in", app.auth()?.sign_in_with_password(alias, &username, &password, Some(&label)))
        .await
        .map_err(|e| login_error(e, alias).redact(password.expose()))?;
    finish(&app, alias, &outcome)
}

/// A failed sign-in of `alias`. A refusal keeps its own hint (a refused
/// password: check it and try again); other sign-in-required failures get
/// "run it again" rather than the usual `run authstate login`, which is the
/// command that just failed.
fn login_error(error: LoginError, alias: &str) -> CliError {
    let error = CliError::from(error);
    if error.exit() == Exit::SignInRequired && !error.has_hint() {
        return error
            .for_server(alias)
            .with_hint(format!("the sign-in did not complete: run `authstate login {alias}` again"));
    }
    error.for_server(alias)
}

/// Says what the server said about this device (the core saved it), after
/// making room for the server's refresh journal.
fn finish(app: &App, alias: &str, outcome: &LoginOutcome) -> Result<(), CliError> {
    if !outcome.persisted {
        return Err(app.pending_error(alias, Some("signed in, but the tokens could not be saved")));
    }
    if !app.manager.prepare_journal(alias) {
        say(&format!(
            "warning: {alias}: no room for its refresh journal {}; a refresh while the disk is full could lose the session",
            app.journal_path(alias).display()
        ));
    }
    say(&format!("Signed in to {alias} ({}).", outcome.server.id));
    if let Some(device) = outcome.device.as_ref().filter(|d| d.other_sessions > 0) {
        let n = device.other_sessions;
        let devices = if n == 1 { "device" } else { "devices" };
        say(&format!("This account is also signed in on {n} other {devices}: see `authstate sessions {alias}`."));
    }
    Ok(())
}

/// Whether a browser can be shown: always on macOS and Windows; on other
/// systems only with an X11 or Wayland display (not over plain SSH).
fn has_display() -> bool {
    if cfg!(any(target_os = "macos", target_os = "windows")) {
        return true;
    }
    ["DISPLAY", "WAYLAND_DISPLAY"].iter().any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
}

/// Opens `url` in the system browser on a detached thread: the login never
/// waits for the browser, and a failure is harmless (the URL was printed).
fn open_browser(url: String) {
    std::thread::spawn(move || {
        let _ = webbrowser::open(&url);
    });
}

/// `authstate-cli on <host>`, or `authstate-cli` when the host name is unknown.
fn default_device_label() -> String {
    match host_name() {
        Some(host) => format!("authstate-cli on {host}"),
        None => "authstate-cli".into(),
    }
}

fn host_name() -> Option<String> {
    let from_kernel = std::fs::read_to_string("/proc/sys/kernel/hostname").ok();
    let from_env = || std::env::var("HOSTNAME").or_else(|_| std::env::var("COMPUTERNAME")).ok();
    let name = from_kernel.or_else(from_env)?;
    let name: String = name.trim().chars().filter(|c| !c.is_control()).take(64).collect();
    (!name.is_empty()).then_some(name)
}
