//! `server add | list | remove`: the servers the CLI signs in to, and how
//! each authenticates. The core validates URLs and provider settings; this
//! module turns flags into a [`Provider`] and refuses flags that do not apply
//! to the chosen provider.

use authstate::model::{
    Alias, OidcConfig, OpaqueTokenConfig, RefreshRequestShape, ServerId, ServerInputError, TokenPairConfig,
};
use authstate::{ManagerError, Provider, StateKind};
use serde::Serialize;

use super::logout::sign_out_text;
use crate::app::App;
use crate::cli::{AddArgs, ProviderArg};
use crate::exit::CliError;
use crate::output::{Table, json, out, provider_name, say, spin};

/// RFC 8252 loopback redirect; the login picks the port.
const REDIRECT_URI: &str = "http://127.0.0.1/callback";

/// Adds the server `args` describes, signed out. The URL is checked first
/// (a wrong scheme is what to fix, whatever the provider flags say), then
/// the provider flags; the core refuses a second server on a base URL.
pub fn add(app: &App, args: &AddArgs) -> Result<(), CliError> {
    let id = ServerId::parse(&args.url).map_err(url_error)?;
    let provider = provider(args)?;
    let session = app.manager.add_server(&args.url, args.alias.as_deref(), provider).map_err(|e| match e {
        ManagerError::DuplicateServer(_, existing) => duplicate_server(&id, &existing, args),
        other => other.into(),
    })?;
    let info = session.info();
    say(&format!("Added {} ({}, {}).", info.alias, info.id, provider_name(info.provider.kind())));
    say(&format!("Sign in with: authstate login {}", info.alias));
    Ok(())
}

/// A refused server URL (exit 2), with what would be accepted.
fn url_error(error: ServerInputError) -> CliError {
    let hint = match &error {
        ServerInputError::InsecureScheme(_) => {
            Some("use an https:// URL; http:// is accepted only on 127.0.0.1, ::1 and localhost")
        }
        ServerInputError::UnexpectedPart(_) => Some("give the base URL alone, such as https://api.example.com/"),
        _ => None,
    };
    let error = CliError::from(error);
    match hint {
        Some(hint) => error.with_hint(hint),
        None => error,
    }
}

/// A second server on a base URL that already has one (exit 2). The core
/// keeps one server, with one provider, per base URL: its sign-in state,
/// tokens and refresh lease are those of the URL.
fn duplicate_server(id: &ServerId, existing: &Alias, args: &AddArgs) -> CliError {
    let message =
        format!("{id} is already added as {existing}: a base URL can hold only one server (one sign-in method)");
    let hint = if args.alias.as_deref() == Some(existing.as_str()) {
        format!("`{existing}` is that server; `authstate server remove {existing}` first to add it again differently")
    } else {
        format!(
            "use `{existing}`; for another sign-in method on the same host, add a longer base URL \
             (such as {id}api/v1/, endpoint paths then relative to it), or remove {existing} first"
        )
    };
    CliError::usage(message).with_hint(hint)
}

/// The provider the flags describe; a flag of another provider is a usage error.
fn provider(args: &AddArgs) -> Result<Provider, CliError> {
    let oidc_flags = [
        ("--client-id", args.client_id.is_some()),
        ("--issuer", args.issuer.is_some()),
        ("--scope", !args.scopes.is_empty()),
    ];
    let token_pair_flags = [
        ("--login-path", args.login_path.is_some()),
        ("--refresh-path", args.refresh_path.is_some()),
        ("--refresh-field", args.refresh_field.is_some()),
        ("--refresh-in-header", args.refresh_in_header),
        ("--logout-path", args.logout_path.is_some()),
    ];
    let opaque_flags = [("--prefix", args.prefix.is_some())];
    let foreign: Vec<&[(&str, bool)]> = match args.provider {
        ProviderArg::Oidc => vec![&token_pair_flags, &opaque_flags],
        ProviderArg::TokenPair => vec![&oidc_flags, &opaque_flags],
        ProviderArg::Opaque => vec![&oidc_flags, &token_pair_flags],
    };
    if let Some((flag, _)) = foreign.iter().flat_map(|flags| flags.iter()).find(|(_, given)| *given) {
        let chosen = match args.provider {
            ProviderArg::Oidc => "oidc",
            ProviderArg::TokenPair => "token-pair",
            ProviderArg::Opaque => "opaque",
        };
        return Err(CliError::usage(format!("{flag} does not apply to --provider {chosen}"))
            .with_hint("see `authstate server add --help`"));
    }
    Ok(match args.provider {
        ProviderArg::Oidc => {
            let Some(client_id) = args.client_id.clone() else {
                return Err(CliError::usage("--client-id is required for an OIDC server")
                    .with_hint("use the client id registered for this CLI at the identity provider"));
            };
            Provider::Oidc(OidcConfig {
                issuer: args.issuer.clone().unwrap_or_else(|| args.url.trim().to_owned()),
                client_id,
                redirect_uri: REDIRECT_URI.into(),
                scopes: args.scopes.clone(),
            })
        }
        ProviderArg::TokenPair => Provider::TokenPair(TokenPairConfig {
            login_path: args.login_path.clone().unwrap_or_else(|| "api/token/".into()),
            refresh_path: args.refresh_path.clone().unwrap_or_else(|| "api/token/refresh/".into()),
            refresh_shape: if args.refresh_in_header {
                RefreshRequestShape::BearerHeader
            } else {
                RefreshRequestShape::JsonBody { field: args.refresh_field.clone().unwrap_or_else(|| "refresh".into()) }
            },
            logout_path: Some(args.logout_path.clone().unwrap_or_else(|| "api/token/blacklist/".into())),
        }),
        ProviderArg::Opaque => {
            let prefix = args.prefix.clone().unwrap_or_else(|| "api/v1/auth/".into());
            let prefix = if prefix.ends_with('/') { prefix } else { format!("{prefix}/") };
            Provider::OpaqueToken(OpaqueTokenConfig::under(&prefix))
        }
    })
}

#[derive(Serialize)]
struct ServerJson<'a> {
    alias: &'a str,
    url: &'a str,
    provider: &'a Provider,
}

/// Lists the servers as a table, or as JSON with their full provider settings.
pub fn list(app: &App, as_json: bool) -> Result<(), CliError> {
    let servers = app.manager.servers();
    if as_json {
        let rows: Vec<ServerJson<'_>> = servers
            .iter()
            .map(|s| ServerJson { alias: s.alias.as_str(), url: s.id.as_str(), provider: &s.provider })
            .collect();
        return json(&rows);
    }
    if servers.is_empty() {
        say("No servers yet. Add one with: authstate server add <url> --alias <alias>");
        return Ok(());
    }
    let mut table = Table::new(&["ALIAS", "URL", "PROVIDER"]);
    for s in &servers {
        table.row(vec![s.alias.to_string(), s.id.to_string(), provider_name(s.provider.kind()).into()]);
    }
    out(&table.render())
}

/// Signs out of `alias` (revoking at the server when possible), then forgets it.
pub async fn remove(app: &App, alias: &str) -> Result<(), CliError> {
    let session = app.session(alias)?;
    if session.state_kind() != StateKind::NoSession {
        let (report, local) = spin("Signing out", session.sign_out_reporting()).await;
        say(&sign_out_text(alias, &report.revocation));
        if let Err(e) = local {
            say(&format!("{alias} was not removed."));
            return Err(CliError::from(e).for_server(alias));
        }
    }
    app.manager.remove_server(alias).map_err(|e| CliError::from(e).for_server(alias))?;
    say(&format!("Removed {alias}."));
    Ok(())
}
