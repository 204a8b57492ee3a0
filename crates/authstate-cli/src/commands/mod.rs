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
/// once; a command about one server ends with exit 7 when that server's
/// state could not be saved ([`App::settle`]). Other commands may run at
/// the same time over the same store directory: nothing here waits for them
/// (the core takes its short locks, and one refresh lease per server).
pub async fn run(cli: Cli) -> Result<(), CliError> {
    let global = &cli.global;
    match cli.command {
        Command::Login(args) => login::run(global, &args).await,
        Command::KeyringProbe(args) => crate::secrets::probe_step(&args),
        command => {
            let app = App::open(global)?;
            let alias = alias_of(&command).map(str::to_owned);
            let result = dispatch(&app, command).await;
            app.settle(alias.as_deref(), result)
        }
    }
}

/// The server a command is about, if it is about one.
fn alias_of(command: &Command) -> Option<&str> {
    match command {
        Command::Token(args) => Some(&args.alias),
        Command::Logout(args) => Some(&args.alias),
        Command::Server(ServerCommand::Remove(args)) => Some(&args.alias),
        Command::Sessions(args) => Some(&args.alias),
        _ => None,
    }
}

async fn dispatch(app: &App, command: Command) -> Result<(), CliError> {
    match command {
        Command::Server(ServerCommand::Add(args)) => server::add(app, &args),
        Command::Server(ServerCommand::List(args)) => server::list(app, args.json),
        Command::Server(ServerCommand::Remove(args)) => server::remove(app, &args.alias).await,
        Command::Status(args) => status::run(app, args.json),
        Command::Token(args) => token::run(app, &args.alias, args.json).await,
        Command::Logout(args) if args.everywhere => logout::everywhere(app, &args.alias).await,
        Command::Logout(args) => logout::run(app, &args.alias).await,
        Command::Sessions(args) => match args.action {
            None => sessions::list(app, &args.alias, args.json).await,
            Some(SessionsAction::Revoke { id }) => sessions::revoke(app, &args.alias, id).await,
        },
        // Handled by `run` before an App is opened.
        Command::Login(_) | Command::KeyringProbe(_) => Err(CliError::internal("command dispatched twice")),
    }
}
