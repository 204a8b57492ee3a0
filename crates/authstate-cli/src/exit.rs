//! The CLI's one error type and its exit codes.
//!
//! Every error of the core is turned into a [`CliError`] here, by the `From`
//! impls below, and nowhere else: the exit code a script sees for a failure is
//! decided in this file. Commands add which server it was about with
//! [`CliError::for_server`], which also picks the hint for the code.
//! Messages are one line and never carry a secret (the core redacts its own;
//! [`CliError::redact`] removes a password a command knows about).

use std::io::Write;
use std::process::ExitCode;

use authstate::backends::oidc::LoopbackError;
use authstate::http::HttpSetupError;
use authstate::model::ServerInputError;
use authstate::storage::StorageError;
use authstate::{AccountError, ExpiryReason, LoginError, ManagerError, SessionError};

use crate::output::reason_text;

/// The exit codes, for `--help` (`after_help`) and the README.
macro_rules! exit_codes_help {
    () => {
        "Exit codes:
  0  success
  1  unexpected internal error
  2  usage or invalid input (bad flag, malformed URL, bad alias or path)
  3  unknown server alias
  4  sign-in required (never signed in, signed out, expired, credentials refused)
  5  server unreachable or busy: try again later (network, timeout, 5xx, 429)
  6  server or configuration error (endpoints, discovery, TLS setup, permission denied)
  7  secret store or local storage unavailable or full, or not private to you"
    };
}
pub(crate) use exit_codes_help;

/// What a failure means to a script, as the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 1: a bug or an unexpected failure.
    Internal = 1,
    /// 2: the command line or an input value is wrong.
    Usage = 2,
    /// 3: no server with that alias.
    UnknownServer = 3,
    /// 4: sign in (again) first.
    SignInRequired = 4,
    /// 5: the server could not be reached or is busy; nothing changed.
    Unavailable = 5,
    /// 6: the server or its configuration is wrong.
    ServerError = 6,
    /// 7: the secret store or the state file cannot be used.
    Storage = 7,
}

/// A failed command: its exit code, a one-line message and an optional hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    exit: Exit,
    message: String,
    hint: Option<String>,
}

impl CliError {
    /// A failure with `exit` and `message` (made one line).
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        let message = one_line(&message.into());
        Self { exit, message, hint: None }
    }

    /// A usage or input error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message)
    }

    /// A storage error (exit 7).
    pub fn storage(message: impl Into<String>) -> Self {
        Self::new(Exit::Storage, message)
    }

    /// An unexpected failure (exit 1).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Exit::Internal, message)
    }

    /// "No server with that alias" (exit 3), with the hint to list them.
    pub fn unknown_server(alias: &str) -> Self {
        Self::new(Exit::UnknownServer, format!("no server with alias {alias:?}")).with_hint(
            "run `authstate server list` to see the servers, or `authstate server add <url> --alias <alias>`",
        )
    }

    /// Replaces the hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(one_line(&hint.into()));
        self
    }

    /// Says which server the failure is about (`alias: …`) and, when no hint
    /// was set, adds the usual next step for the exit code.
    pub fn for_server(mut self, alias: &str) -> Self {
        if self.exit == Exit::UnknownServer {
            return if self.hint.is_some() { self } else { Self::unknown_server(alias) };
        }
        self.message = format!("{alias}: {}", self.message);
        if self.hint.is_none() {
            self.hint = match self.exit {
                Exit::SignInRequired => Some(format!("run `authstate login {alias}`")),
                Exit::Unavailable => Some("nothing was changed; try again later".into()),
                Exit::ServerError => Some("check the server entry with `authstate server list --json`".into()),
                _ => None,
            };
        }
        self
    }

    /// Removes `secret` from the message and hint (defence in depth: the core
    /// never puts a password in an error).
    pub fn redact(mut self, secret: &str) -> Self {
        if secret.len() >= 3 {
            self.message = self.message.replace(secret, "…redacted…");
            self.hint = self.hint.map(|h| h.replace(secret, "…redacted…"));
        }
        self
    }

    /// Prints `error: …` and, if any, `hint: …` on stderr.
    pub fn report(&self) {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "error: {}", self.message);
        if let Some(hint) = &self.hint {
            let _ = writeln!(err, "hint: {hint}");
        }
    }

    /// Whether a hint is set.
    pub fn has_hint(&self) -> bool {
        self.hint.is_some()
    }

    /// What the failure means to a script.
    pub fn exit(&self) -> Exit {
        self.exit
    }

    /// The process exit code.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.exit as u8)
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn retry_note(secs: Option<i64>) -> String {
    secs.filter(|s| *s > 0).map(|s| format!(" (the server asks to wait {s} s)")).unwrap_or_default()
}

impl From<ServerInputError> for CliError {
    fn from(error: ServerInputError) -> Self {
        Self::usage(error.to_string())
    }
}

impl From<StorageError> for CliError {
    fn from(error: StorageError) -> Self {
        Self::storage(error.to_string()).with_hint(
            "check that the store directory is writable and the secret store unlocked (or use `--secrets file`)",
        )
    }
}

impl From<HttpSetupError> for CliError {
    fn from(error: HttpSetupError) -> Self {
        Self::new(Exit::ServerError, error.to_string()).with_hint("check the certificate given with --ca-cert")
    }
}

impl From<LoopbackError> for CliError {
    fn from(error: LoopbackError) -> Self {
        Self::internal(error.to_string())
    }
}

impl From<ManagerError> for CliError {
    fn from(error: ManagerError) -> Self {
        match error {
            ManagerError::InvalidInput(e) => e.into(),
            ManagerError::DuplicateAlias(alias) => {
                Self::usage(format!("the alias {alias} is already used by another server"))
                    .with_hint("choose another --alias, or see `authstate server list`")
            }
            ManagerError::DuplicateServer(id, alias) => Self::usage(format!(
                "{id} is already added as {alias}: a base URL can hold only one server (one sign-in method)"
            ))
            .with_hint(format!("use it as `{alias}`, or remove it first with `authstate server remove {alias}`")),
            ManagerError::UnknownServer(alias) => Self::unknown_server(&alias),
            ManagerError::Storage(e) => e.into(),
            other => Self::internal(other.to_string()),
        }
    }
}

impl From<SessionError> for CliError {
    fn from(error: SessionError) -> Self {
        match error {
            SessionError::SignedOut => Self::new(Exit::SignInRequired, "not signed in"),
            SessionError::SignInRequired { reason: ExpiryReason::RefreshInterrupted } => Self::new(
                Exit::SignInRequired,
                "the refresh was interrupted before the server's answer was saved, and the server no longer \
                 accepts the old refresh token (it rotated it): sign in again",
            ),
            SessionError::SignInRequired { reason } => {
                Self::new(Exit::SignInRequired, format!("the session has expired ({})", reason_text(reason)))
            }
            SessionError::TryLater { kind, retry_after } => Self::new(
                Exit::Unavailable,
                format!("server unavailable ({kind}){}", retry_note(retry_after.map(|d| d.whole_seconds()))),
            ),
            SessionError::Storage(e) => e.into(),
            SessionError::Configuration(detail) => Self::new(Exit::ServerError, format!("misconfigured: {detail}")),
            SessionError::ServerRemoved => Self::new(Exit::UnknownServer, "the server was removed"),
            other => Self::internal(other.to_string()),
        }
    }
}

impl From<LoginError> for CliError {
    fn from(error: LoginError) -> Self {
        match error {
            LoginError::UnknownServer(alias) => Self::unknown_server(&alias),
            LoginError::WrongProvider(_) => {
                Self::usage("this server does not sign in this way").with_hint("see `authstate server list`")
            }
            LoginError::InvalidReturnTo(detail) => Self::usage(detail),
            LoginError::Unreachable(transport) => {
                Self::new(Exit::Unavailable, format!("server unreachable: {transport}"))
            }
            LoginError::Configuration(detail) => Self::new(Exit::ServerError, format!("misconfigured: {detail}")),
            LoginError::InvalidIdToken(detail) => Self::new(Exit::ServerError, format!("ID token rejected: {detail}")),
            LoginError::Storage(detail) => Self::storage(detail),
            LoginError::Session(e) => e.into(),
            // The hint is not the usual `authstate login`: that is the command that just failed.
            LoginError::InvalidCredentials(detail) => {
                // The backends' detail is the HTTP status and the server's messages.
                let http = if detail.starts_with(|c: char| c.is_ascii_digit()) { "HTTP " } else { "" };
                Self::new(Exit::SignInRequired, format!("the server refused the username or password: {http}{detail}"))
                    .with_hint("check the username and password, then try again (the account may also be disabled)")
            }
            LoginError::Cancelled { .. } => Self::new(Exit::SignInRequired, "the sign-in was cancelled in the browser")
                .with_hint("run the same command again to sign in"),
            refused @ (LoginError::Denied { .. }
            | LoginError::StateMismatch
            | LoginError::Expired { .. }
            | LoginError::InvalidCallback(_)
            | LoginError::CodeRejected(_)) => Self::new(Exit::SignInRequired, refused.to_string()),
            other => Self::internal(other.to_string()),
        }
    }
}

impl From<AccountError> for CliError {
    fn from(error: AccountError) -> Self {
        match error {
            AccountError::UnknownServer(alias) => Self::unknown_server(&alias),
            AccountError::NotSupported(_) => Self::usage("this server has no device sessions")
                .with_hint("device sessions exist on opaque-token servers only"),
            AccountError::SignInRequired => Self::new(Exit::SignInRequired, "sign-in required"),
            AccountError::NotFound => Self::usage("no such device session (already revoked, or another account's)"),
            AccountError::PermissionDenied => {
                Self::new(Exit::ServerError, "the server denied this (permission denied)")
            }
            AccountError::Refused(detail) => Self::usage(format!("refused by the server: {detail}")),
            AccountError::TryLater { detail, retry_after_secs } => {
                Self::new(Exit::Unavailable, format!("server unavailable: {detail}{}", retry_note(retry_after_secs)))
            }
            AccountError::Configuration(detail) => Self::new(Exit::ServerError, format!("misconfigured: {detail}")),
            AccountError::Storage(detail) => Self::storage(detail),
            other => Self::internal(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_what_to_do() {
        assert_eq!(CliError::from(SessionError::SignedOut).exit, Exit::SignInRequired);
        let expired = SessionError::SignInRequired { reason: ExpiryReason::RefreshRejected };
        assert_eq!(CliError::from(expired).exit, Exit::SignInRequired);
        let interrupted = CliError::from(SessionError::SignInRequired { reason: ExpiryReason::RefreshInterrupted });
        assert_eq!(interrupted.exit, Exit::SignInRequired);
        assert!(interrupted.message.contains("the refresh was interrupted"), "{}", interrupted.message);
        assert!(!interrupted.message.contains("rejected"), "{}", interrupted.message);
        let refused = CliError::from(LoginError::InvalidCredentials("400".into())).for_server("api");
        assert_eq!(refused.exit, Exit::SignInRequired);
        assert!(refused.message.contains("refused the username or password"), "{}", refused.message);
        assert!(refused.hint.as_deref().is_some_and(|h| h.contains("try again") && !h.contains("authstate login")));
        let cancelled = CliError::from(LoginError::Cancelled { error: "access_denied".into(), description: None });
        assert_eq!(cancelled.exit, Exit::SignInRequired);
        assert!(cancelled.message.contains("cancelled"), "{}", cancelled.message);
        assert_eq!(CliError::from(LoginError::UnknownServer("x".into())).exit, Exit::UnknownServer);
        assert_eq!(CliError::from(LoginError::Configuration("404".into())).exit, Exit::ServerError);
        let busy = AccountError::TryLater { detail: "503".into(), retry_after_secs: Some(5) };
        assert_eq!(CliError::from(busy).exit, Exit::Unavailable);
        assert_eq!(CliError::from(StorageError::Unavailable("locked".into())).exit, Exit::Storage);
        assert_eq!(CliError::from(ServerInputError::Unparsable("x".into())).exit, Exit::Usage);
    }

    #[test]
    fn for_server_prefixes_and_hints() {
        let e = CliError::from(SessionError::SignedOut).for_server("prod");
        assert_eq!(e.message, "prod: not signed in");
        assert_eq!(e.hint.as_deref(), Some("run `authstate login prod`"));
        let unknown = CliError::from(LoginError::UnknownServer("prod".into())).for_server("prod");
        assert_eq!(unknown.message, "no server with alias \"prod\"");
        assert!(unknown.hint.is_some_and(|h| h.contains("authstate server list")));
    }

    #[test]
    fn messages_are_one_line_and_redactable() {
        let e = CliError::usage("a\nb  c");
        assert_eq!(e.message, "a b c");
        let e = CliError::usage("password hunter2 leaked").redact("hunter2");
        assert_eq!(e.message, "password …redacted… leaked");
    }
}
