//! Asking the user: a username on the terminal, a password without echo, or
//! a password piped on stdin (`--password-stdin`, first line, like
//! `docker login`).
//!
//! Guarantees: a password is returned only as a [`Secret`] (whose `Debug`
//! and `Display` redact it) and is never echoed, logged or put in an error.

use std::io::{BufRead, IsTerminal, Write};

use authstate::Secret;

use crate::exit::CliError;

/// Asks for one line on stderr and reads it from stdin (trimmed).
pub fn line(prompt: &str, flag: &str) -> Result<String, CliError> {
    if !std::io::stdin().is_terminal() {
        return Err(CliError::usage(format!("no terminal to ask on; pass {flag}")));
    }
    let _ = write!(std::io::stderr().lock(), "{prompt}");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).map_err(|e| CliError::usage(format!("cannot read stdin: {e}")))?;
    let answer = answer.trim().to_owned();
    if answer.is_empty() {
        return Err(CliError::usage(format!("nothing entered; pass {flag}")));
    }
    Ok(answer)
}

/// Asks for a password on the terminal, without echo.
pub fn password(prompt: &str) -> Result<Secret, CliError> {
    let typed = rpassword::prompt_password(prompt).map_err(|e| {
        CliError::usage(format!("cannot ask for a password on the terminal: {e}"))
            .with_hint("pipe it instead: `… | authstate login <alias> --username <name> --password-stdin`")
    })?;
    non_empty(typed)
}

/// Reads the password from the first line of stdin (without its line ending).
pub fn password_from_stdin() -> Result<Secret, CliError> {
    let mut first = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut first)
        .map_err(|e| CliError::usage(format!("cannot read the password from stdin: {e}")))?;
    let password = first.strip_suffix('\n').unwrap_or(&first);
    let password = password.strip_suffix('\r').unwrap_or(password);
    non_empty(password.to_owned())
}

fn non_empty(password: String) -> Result<Secret, CliError> {
    if password.is_empty() {
        return Err(CliError::usage("the password is empty"));
    }
    Ok(Secret::new(password))
}
