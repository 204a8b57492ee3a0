//! The command line: every command, flag and environment variable, as clap
//! types. Parsing only; what a command does lives in `commands/`.
//!
//! Guarantees: a malformed alias or a flag out of range is a usage error
//! (exit 2) before anything is opened; `--help` documents the exit codes.

use std::path::PathBuf;

use clap::{Arg, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::exit::exit_codes_help;

/// The line each subcommand's help ends with instead of the global options.
const GLOBAL_OPTIONS_NOTE: &str =
    "Global options (--store-dir, --secrets, --ca-cert; also after the command): see `authstate --help`.";

/// The command line as clap sees it: [`Cli`]'s, with the global options
/// listed only in the top-level help. Every subcommand (at any depth) gets
/// its own hidden copy of each global option, under the same id and still
/// global: clap then does not propagate the visible one into it, the option
/// is accepted before or after the subcommand as before, and its value
/// reaches [`Cli::global`] the same way.
pub fn command() -> clap::Command {
    let top = Cli::command();
    let globals: Vec<Arg> = top.get_arguments().filter(|a| a.is_global_set()).cloned().collect();
    top.mut_subcommands(|sub| hide_globals(sub, &globals))
}

fn hide_globals(sub: clap::Command, globals: &[Arg]) -> clap::Command {
    let note = match sub.get_after_help() {
        Some(help) => format!("{GLOBAL_OPTIONS_NOTE}\n\n{help}"),
        None => GLOBAL_OPTIONS_NOTE.to_owned(),
    };
    let sub = if sub.is_hide_set() { sub } else { sub.after_help(note) };
    let sub = globals.iter().fold(sub, |sub, arg| sub.arg(arg.clone().hide(true)));
    sub.mut_subcommands(|nested| hide_globals(nested, globals))
}

/// Parses the process's arguments with [`command`]; a bad command line, or
/// `--help` and `--version`, prints what clap says and exits (2, or 0).
pub fn parse() -> Cli {
    let matches = command().get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.format(&mut command()).exit())
}

/// Sign in to servers once, then hand scripts a fresh access token.
#[derive(Debug, Parser)]
#[command(
    name = "authstate",
    version,
    about,
    after_help = concat!(
        "Example:\n",
        "  authstate server add https://id.example.com --alias prod --client-id my-cli\n",
        "  authstate login prod\n",
        "  curl -H \"Authorization: Bearer $(authstate token prod)\" https://api.example.com/me\n\n",
        exit_codes_help!()
    )
)]
pub struct Cli {
    /// Where state and secrets are kept, and how the network is trusted.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Directory for the CLI's state (state.json; secrets.json with --secrets file)
    /// [default: the user's data directory, e.g. ~/.local/share/authstate]
    #[arg(long, global = true, env = "AUTHSTATE_STORE_DIR", value_name = "DIR")]
    pub store_dir: Option<PathBuf>,
    /// Where tokens are kept: the OS keyring, or a 0600 file in the store
    /// directory (for headless machines without a keyring)
    /// [default: keyring, or file where `login` found that the keyring does not keep tokens]
    #[arg(long, global = true, env = "AUTHSTATE_SECRETS", value_enum)]
    pub secrets: Option<SecretsBackend>,
    /// Also trust this PEM certificate (a company CA, a development server's self-signed certificate)
    #[arg(long, global = true, env = "AUTHSTATE_CA_CERT", value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
}

/// Where tokens are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SecretsBackend {
    /// The OS keyring (on Linux, the kernel keyring via keyutils).
    Keyring,
    /// `<store-dir>/secrets.json`, created 0600, not encrypted.
    File,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Add, list and remove servers.
    #[command(subcommand)]
    Server(ServerCommand),
    /// Sign in to a server: a browser for OIDC, a password otherwise.
    #[command(after_help = concat!(
        "OIDC servers: the sign-in URL is always printed on stderr; the browser is opened\n",
        "unless --no-browser or there is no display. Other servers: the password is read\n",
        "without echo from the terminal, or from the first line of stdin with --password-stdin.\n\n",
        exit_codes_help!()
    ))]
    Login(LoginArgs),
    /// Show every server: sign-in state, token lifetime, other devices.
    #[command(after_help = exit_codes_help!())]
    Status(JsonArgs),
    /// Print a fresh access token (refreshed when needed) on stdout, and nothing else.
    #[command(after_help = concat!(
        "Example:\n  curl -H \"Authorization: Bearer $(authstate token prod)\" https://api.example.com/me\n\n",
        exit_codes_help!()
    ))]
    Token(TokenArgs),
    /// Sign out of a server, revoking the session at the server when it can.
    #[command(after_help = concat!(
        "--everywhere needs an opaque-token server (one with a log-out-all endpoint): the server\n",
        "ends every device session of the account, this one included. Other servers refuse it\n",
        "with exit 2 and change nothing.\n\n",
        exit_codes_help!()
    ))]
    Logout(LogoutArgs),
    /// List the account's device sessions (opaque-token servers), or revoke one.
    #[command(after_help = exit_codes_help!())]
    Sessions(SessionsArgs),
    /// Internal: one step of `login`'s check that the OS keyring keeps
    /// entries from one process to the next.
    #[command(name = crate::secrets::PROBE_COMMAND, hide = true)]
    KeyringProbe(ProbeArgs),
}

/// The hidden keyring check's arguments (none of them secret).
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// write: store and read back; read: find, compare and delete
    #[arg(value_enum)]
    pub step: ProbeStep,
    /// The keyring service name
    pub service: String,
    /// The entry's key
    pub key: String,
    /// The value written, or expected
    pub value: String,
}

/// A step of the keyring check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProbeStep {
    /// Store the value and read it back.
    Write,
    /// Read the value (in a new process), compare it, delete the entry.
    Read,
}

/// `server …`.
#[derive(Debug, Subcommand)]
pub enum ServerCommand {
    /// Add a server (signed out). Checks the URL and the provider settings.
    #[command(after_help = concat!(
        "Examples:\n",
        "  authstate server add https://id.example.com --alias prod --client-id my-cli\n",
        "  authstate server add https://api.example.com --alias api --provider token-pair\n",
        "  authstate server add https://notes.example.com --provider opaque --prefix api/v1/auth/\n\n",
        exit_codes_help!()
    ))]
    Add(Box<AddArgs>),
    /// List the servers.
    #[command(after_help = exit_codes_help!())]
    List(JsonArgs),
    /// Sign out of a server (revoking when possible) and forget it.
    #[command(after_help = exit_codes_help!())]
    Remove(AliasArg),
}

/// How a server authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProviderArg {
    /// OpenID Connect: browser sign-in with PKCE, refresh tokens, revocation.
    Oidc,
    /// A JWT access/refresh pair (Django simplejwt, FastAPI apps): password sign-in.
    #[value(alias = "token_pair")]
    TokenPair,
    /// One long-lived token per device (django-rest-knox style): password sign-in, device sessions.
    #[value(alias = "opaque_token")]
    Opaque,
}

/// `server add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// The server's base URL (https; http only on 127.0.0.1, ::1 or localhost)
    pub url: String,
    /// Short name used in every other command [default: from the host name]
    #[arg(long, value_parser = parse_alias)]
    pub alias: Option<String>,
    /// How the server authenticates
    #[arg(long, value_enum, default_value_t = ProviderArg::Oidc)]
    pub provider: ProviderArg,
    /// the client id registered for this CLI (required for oidc)
    #[arg(long, help_heading = "OIDC")]
    pub client_id: Option<String>,
    /// the issuer URL [default: the server URL]
    #[arg(long, help_heading = "OIDC")]
    pub issuer: Option<String>,
    /// an extra scope to request (repeatable; openid and offline_access are always requested)
    #[arg(long = "scope", value_name = "SCOPE", help_heading = "OIDC")]
    pub scopes: Vec<String>,
    /// credentials login path [default: api/token/]
    #[arg(long, value_name = "PATH", help_heading = "token-pair")]
    pub login_path: Option<String>,
    /// refresh path [default: api/token/refresh/]
    #[arg(long, value_name = "PATH", help_heading = "token-pair")]
    pub refresh_path: Option<String>,
    /// the JSON field the refresh token is sent in [default: refresh]
    #[arg(long, value_name = "FIELD", conflicts_with = "refresh_in_header", help_heading = "token-pair")]
    pub refresh_field: Option<String>,
    /// send the refresh token as `Authorization: Bearer` instead of in the body
    #[arg(long, help_heading = "token-pair")]
    pub refresh_in_header: bool,
    /// logout (blacklist) path [default: api/token/blacklist/]
    #[arg(long, value_name = "PATH", help_heading = "token-pair")]
    pub logout_path: Option<String>,
    /// the prefix of login/, session/, logout/, sessions/, logoutall/, password/ [default: api/v1/auth/]
    #[arg(long, value_name = "PATH", help_heading = "opaque")]
    pub prefix: Option<String>,
}

/// `login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The server's alias
    #[arg(value_parser = parse_alias)]
    pub alias: String,
    /// do not open a browser, only print the URL
    #[arg(long)]
    pub no_browser: bool,
    /// how long to wait for the browser, in seconds
    #[arg(long, value_name = "SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: u64,
    /// Password sign-in: the username [default: asked on the terminal]
    #[arg(long, short)]
    pub username: Option<String>,
    /// Password sign-in: read the password from the first line of stdin
    #[arg(long, requires = "username")]
    pub password_stdin: bool,
    /// Password sign-in: how this device is named in the account's device sessions
    /// [default: "authstate-cli on <host>"]
    #[arg(long, value_name = "LABEL")]
    pub device_label: Option<String>,
}

/// `token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The server's alias
    #[arg(value_parser = parse_alias)]
    pub alias: String,
    /// Print {"access_token": …, "expires_in_secs": …} instead of the bare token
    #[arg(long)]
    pub json: bool,
}

/// `sessions`.
#[derive(Debug, Args)]
pub struct SessionsArgs {
    /// The server's alias
    #[arg(value_parser = parse_alias)]
    pub alias: String,
    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
    /// Revoke a session instead of listing them.
    #[command(subcommand)]
    pub action: Option<SessionsAction>,
}

/// `sessions <alias> …`.
#[derive(Debug, Subcommand)]
pub enum SessionsAction {
    /// Revoke one device session by its id (revoking this device's signs it out).
    Revoke {
        /// The session id, as `authstate sessions <alias>` lists it
        id: i64,
    },
}

/// `logout`.
#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The server's alias
    #[arg(value_parser = parse_alias)]
    pub alias: String,
    /// Sign out every device of the account, this one included (opaque-token servers)
    #[arg(long)]
    pub everywhere: bool,
}

/// A command with one alias.
#[derive(Debug, Args)]
pub struct AliasArg {
    /// The server's alias
    #[arg(value_parser = parse_alias)]
    pub alias: String,
}

/// A read command's output format.
#[derive(Debug, Args)]
pub struct JsonArgs {
    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
}

/// An alias as the core accepts it: 1-32 of a-z, 0-9, '-', '_'.
fn parse_alias(input: &str) -> Result<String, String> {
    authstate::Alias::new(input).map(String::from).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
        command().debug_assert();
    }

    /// Parses `argv` the way `main` does.
    fn parse_from(argv: &[&str]) -> Result<Cli, clap::Error> {
        let matches = command().try_get_matches_from(argv)?;
        Cli::from_arg_matches(&matches)
    }

    #[test]
    fn global_options_work_before_and_after_the_command() {
        for argv in [
            &["authstate", "--store-dir", "/s", "--secrets", "file", "server", "list"][..],
            &["authstate", "server", "--store-dir", "/s", "list", "--secrets", "file"],
            &["authstate", "server", "list", "--store-dir", "/s", "--secrets", "file"],
        ] {
            let cli = parse_from(argv).unwrap();
            assert_eq!(cli.global.store_dir.as_deref(), Some(std::path::Path::new("/s")), "{argv:?}");
            assert_eq!(cli.global.secrets, Some(SecretsBackend::File), "{argv:?}");
        }
        let cli = parse_from(&["authstate", "logout", "api", "--everywhere", "--ca-cert", "/ca.pem"]).unwrap();
        assert_eq!(cli.global.ca_cert.as_deref(), Some(std::path::Path::new("/ca.pem")));
        assert!(matches!(cli.command, Command::Logout(LogoutArgs { everywhere: true, .. })));
    }

    #[test]
    fn provider_names_of_the_json_are_accepted_too() {
        for (name, expected) in [
            ("token-pair", ProviderArg::TokenPair),
            ("token_pair", ProviderArg::TokenPair),
            ("opaque", ProviderArg::Opaque),
            ("opaque_token", ProviderArg::Opaque),
            ("oidc", ProviderArg::Oidc),
        ] {
            let cli = parse_from(&["authstate", "server", "add", "https://x.example", "--provider", name]).unwrap();
            let Command::Server(ServerCommand::Add(args)) = cli.command else { panic!("not server add") };
            assert_eq!(args.provider, expected, "{name}");
        }
    }

    #[test]
    fn sessions_takes_an_alias_then_an_optional_action() {
        let cli = parse_from(&["authstate", "sessions", "api", "revoke", "7"]).unwrap();
        let Command::Sessions(args) = cli.command else { panic!("not sessions") };
        assert_eq!(args.alias, "api");
        assert!(matches!(args.action, Some(SessionsAction::Revoke { id: 7 })));
        let cli = parse_from(&["authstate", "sessions", "api", "--json"]).unwrap();
        assert!(matches!(cli.command, Command::Sessions(SessionsArgs { action: None, json: true, .. })));
    }

    #[test]
    fn bad_aliases_and_flags_are_usage_errors() {
        for argv in [
            vec!["authstate", "token", "Not An Alias"],
            vec!["authstate", "login", "prod", "--password-stdin"],
            vec!["authstate", "login", "prod", "--timeout", "0"],
            vec!["authstate", "server", "add", "https://x.example", "--refresh-field", "r", "--refresh-in-header"],
        ] {
            let error = parse_from(&argv).unwrap_err();
            assert_eq!(error.exit_code(), 2, "{argv:?}");
        }
    }
}
