//! One module per command; `run` dispatches a parsed command line to it.
//! Commands print data (tables, JSON, the token) on stdout and everything
//! else on stderr, and return a [`CliError`] for `main` to report.

mod login;
mod logout;
mod server;
mod sessions;
mod status;
mod token;

use crate::app::App;
use crate::cli::{Cli, Command, ServerCommand, SessionsAction};
use crate::exit::CliError;

/// Runs the command `cli` names. Every command but `login` opens the stores
/// once and holds the store directory's lock until it ends; `login` takes it
/// only around its store and server calls, never while a person types or a
/// browser is open.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    let global = &cli.global;
    match cli.command {
        Command::Login(args) => login::run(global, &args).await,
        Command::Server(ServerCommand::Add(args)) => server::add(&App::open(global)?, &args),
        Command::Server(ServerCommand::List(args)) => server::list(&App::open(global)?, args.json),
        Command::Server(ServerCommand::Remove(args)) => server::remove(&App::open(global)?, &args.alias).await,
        Command::Status(args) => status::run(&App::open(global)?, args.json),
        Command::Token(args) => token::run(&App::open(global)?, &args.alias, args.json).await,
        Command::Logout(args) => logout::run(&App::open(global)?, &args.alias).await,
        Command::Sessions(args) => {
            let app = App::open(global)?;
            match args.action {
                None => sessions::list(&app, &args.alias, args.json).await,
                Some(SessionsAction::Revoke { id }) => sessions::revoke(&app, &args.alias, id).await,
            }
        }
        Command::KeyringProbe(args) => crate::secrets::probe_step(&args),
    }
}
