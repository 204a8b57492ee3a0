//! `authstate`: the reference command-line client of the authstate core.
//! Sign in to a server once, then let scripts get a fresh token:
//! `curl -H "Authorization: Bearer $(authstate token prod)" …`.
//!
//! Parses the command line, runs the command on a single-threaded runtime,
//! and turns its error into one `error:` line, an optional `hint:` line and
//! the exit code (see `exit.rs`; `--help` lists them). Never prints a
//! backtrace: a panic (a bug) is one line and exit 1.

mod app;
mod cli;
mod commands;
mod exit;
mod network;
mod output;
mod permissions;
mod prompt;
mod secrets;

use std::process::ExitCode;

use crate::exit::CliError;

fn main() -> ExitCode {
    install_panic_hook();
    let cli = cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return fail(&CliError::internal(format!("cannot start the async runtime: {e}"))),
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error),
    }
}

fn fail(error: &CliError) -> ExitCode {
    error.report();
    error.exit_code()
}

/// One line and exit 1 instead of a panic message and backtrace. The panic's
/// own message is not printed: it could quote a value it was handed.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let place = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        eprintln!("error: internal error{place}; please report it");
        std::process::exit(1);
    }));
}
