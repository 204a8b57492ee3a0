//! Which secret store holds a store directory's tokens, and whether the OS
//! keyring keeps them from one command to the next.
//!
//! Why a check is needed: every command is its own process, so a keyring
//! entry is only useful if the *next* process finds it. On Linux the keyring
//! is the kernel's (keyutils), through `linux-keyutils-keyring-store`, which
//! for every entry takes the session keyring (`@s`) and then links the user's
//! persistent keyring into `@s`. In a process without a session keyring of
//! its own (a container, a service, a CI job: nothing ran `pam_keyinit` or
//! `keyctl session`), `@s` first stands for the user-session keyring, and
//! linking into it makes the kernel give the process a new, private session
//! keyring that dies with it. So the first entry a process touches looks in
//! the user-session keyring, and every later one adds its key to the private
//! keyring (and the persistent one). The next process looks for its first
//! entry — the tokens, at open — in the user-session keyring and finds
//! nothing: `login` said "Signed in", `token` said "not signed in".
//! The core's keyring store joins the persistent keyring before any entry is touched,
//! so every entry of every process is written to, and looked up in, the
//! same place: the session keyring with the user's persistent keyring in it.
//!
//! Guarantees:
//! - Every command of a store directory uses one secret store: the one
//!   `--secrets` (`AUTHSTATE_SECRETS`) names, else the one recorded in
//!   `<store-dir>/secret-store`, else the OS keyring. Tokens are never split
//!   between two stores by the CLI's own choice.
//! - `login` with the keyring first checks, in two fresh processes started
//!   the way the next command will be, that an entry one writes the other
//!   reads back ([`settle_for_login`]). If not, and no store was asked for
//!   nor recorded, the directory switches to the 0600 file store for good,
//!   with one warning line; if the keyring was asked for or recorded, the
//!   login fails (exit 7) before any password is sent. So "Signed in" is
//!   only printed for tokens the next command will find.

use std::io::{ErrorKind, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use authstate::storage::{SecretStore, StorageError};

use crate::app::StoreDir;
use crate::cli::{GlobalArgs, ProbeArgs, ProbeStep, SecretsBackend};
use crate::exit::{CliError, Exit};
use crate::output::say;
use crate::permissions::{self, FileRole};

/// The file in the store directory that records which secret store holds its tokens.
pub const RECORD_FILE: &str = "secret-store";

/// The hidden subcommand that runs one step of the keyring check.
pub const PROBE_COMMAND: &str = "__keyring-probe";

/// How long one step of the keyring check may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(15);

/// The secret store the command uses: `--secrets` when given, else the one
/// recorded for the directory, else the OS keyring. The record's permissions
/// must have been checked (`App::open` checks them).
pub fn chosen(global: &GlobalArgs, dir: &Path) -> Result<SecretsBackend, CliError> {
    if let Some(backend) = global.secrets {
        return Ok(backend);
    }
    Ok(read_record(dir)?.unwrap_or(SecretsBackend::Keyring))
}

/// Before a login: makes sure the secret store the login will write to is
/// one the next command reads. With the keyring, runs the two-process check;
/// when it fails, switches the directory to the file store (one warning) or,
/// if the keyring was asked for or recorded, fails with a storage error.
///
/// Must run before this process touches the keyring: the check's processes
/// inherit this one's keyrings, as the next command inherits the shell's.
pub fn settle_for_login(global: &GlobalArgs, dir: &StoreDir) -> Result<(), CliError> {
    permissions::check_file(&dir.path.join(RECORD_FILE), FileRole::Read)?;
    let recorded = read_record(&dir.path)?;
    if global.secrets.or(recorded).unwrap_or(SecretsBackend::Keyring) == SecretsBackend::File {
        return Ok(());
    }
    let why = match keyring_keeps_entries(&dir.keyring_service()) {
        Ok(()) => {
            if global.secrets.is_none() && recorded.is_none() {
                write_record(&dir.path, SecretsBackend::Keyring)?;
            }
            return Ok(());
        }
        Err(ProbeFailure::NotKept(why)) => why,
        Err(ProbeFailure::CannotCheck(why)) => {
            return Err(CliError::storage(format!("cannot check that the OS keyring keeps tokens: {why}"))
                .with_hint("use `--secrets file` (tokens in <store-dir>/secrets.json, mode 0600)"));
        }
    };
    if global.secrets.is_some() {
        return Err(CliError::storage(format!(
            "the OS keyring cannot keep tokens from one command to the next here: {why}"
        ))
        .with_hint("use `--secrets file` (tokens in <store-dir>/secrets.json, mode 0600)"));
    }
    if recorded.is_some() {
        return Err(CliError::storage(format!(
            "{} keeps its tokens in the OS keyring, which cannot keep them from one command to the next here: {why}",
            dir.path.display()
        ))
        .with_hint(
            "sign in where the keyring works, or pass `--secrets file` to every command (AUTHSTATE_SECRETS=file)",
        ));
    }
    write_record(&dir.path, SecretsBackend::File)?;
    say(&format!(
        "warning: the OS keyring cannot keep tokens from one command to the next here ({why}); \
         tokens for {} go to its secrets.json from now on (mode 0600, not encrypted)",
        dir.path.display()
    ));
    Ok(())
}

/// The OS keyring as the secret store, under the service name `service`.
#[cfg(target_os = "linux")]
pub fn os_keyring(service: &str) -> Result<Arc<dyn SecretStore>, CliError> {
    // The core links the persistent keyring first (see KeyringSecretStore::linux_keyutils).
    match authstate::storage::KeyringSecretStore::linux_keyutils(service) {
        Ok(store) => Ok(Arc::new(store)),
        Err(e) => Err(CliError::from(e).with_hint(
            "on machines without a kernel keyring, use `--secrets file` (tokens in <store-dir>/secrets.json, mode 0600)",
        )),
    }
}

#[cfg(not(target_os = "linux"))]
pub fn os_keyring(_service: &str) -> Result<Arc<dyn SecretStore>, CliError> {
    Err(CliError::storage("the OS keyring is supported on Linux only for now")
        .with_hint("use `--secrets file` (tokens in <store-dir>/secrets.json, mode 0600)"))
}

/// One step of the keyring check, in its own process (`authstate
/// __keyring-probe …`): `write` stores the value and reads it back; `read`
/// finds it, checks it and deletes it. Fails (exit 7) with why.
pub fn probe_step(args: &ProbeArgs) -> Result<(), CliError> {
    let store = os_keyring(&args.service)?;
    match args.step {
        ProbeStep::Write => {
            store.set(&args.key, &args.value)?;
            let read = store.get(&args.key);
            if read.as_deref().ok() == Some(args.value.as_str()) {
                return Ok(());
            }
            let _ = store.delete(&args.key);
            Err(CliError::storage(match read {
                Err(StorageError::NotFound(_)) => "an entry cannot be read back right after it was written".to_owned(),
                Err(e) => e.to_string(),
                Ok(_) => "an entry reads back different from what was written".to_owned(),
            }))
        }
        ProbeStep::Read => {
            let read = store.get(&args.key);
            let _ = store.delete(&args.key);
            match read {
                Ok(value) if value == args.value => Ok(()),
                Ok(_) => Err(CliError::storage("an entry reads back different from what was written")),
                Err(StorageError::NotFound(_)) => {
                    Err(CliError::storage("an entry written by one process is not found by the next"))
                }
                Err(e) => Err(e.into()),
            }
        }
    }
}

/// Why the keyring check did not pass.
#[derive(Debug)]
enum ProbeFailure {
    /// The keyring answered, and does not keep an entry for the next process.
    NotKept(String),
    /// The check itself could not run (no program to start, no answer).
    CannotCheck(String),
}

/// Whether an entry written by one fresh `authstate` process is read back
/// by the next.
fn keyring_keeps_entries(service: &str) -> Result<(), ProbeFailure> {
    let exe = std::env::current_exe()
        .map_err(|e| ProbeFailure::CannotCheck(format!("cannot find the authstate program: {e}")))?;
    let pid = std::process::id();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let key = format!("authstate-cli.probe.{pid}");
    let value = format!("probe-{pid}-{nanos}");
    run_probe_step(&exe, "write", service, &key, &value)?;
    run_probe_step(&exe, "read", service, &key, &value)
}

fn run_probe_step(exe: &Path, step: &str, service: &str, key: &str, value: &str) -> Result<(), ProbeFailure> {
    let mut child = Command::new(exe)
        .args([PROBE_COMMAND, step, service, key, value])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| ProbeFailure::CannotCheck(format!("cannot start {}: {e}", exe.display())))?;
    let deadline = Instant::now() + PROBE_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                let secs = PROBE_TIMEOUT.as_secs();
                return Err(ProbeFailure::CannotCheck(format!("the keyring did not answer within {secs} s")));
            }
            Err(e) => return Err(ProbeFailure::CannotCheck(format!("cannot wait for the keyring check: {e}"))),
        }
    };
    if status.success() {
        return Ok(());
    }
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    match stderr.lines().find_map(|l| l.strip_prefix("error: ")) {
        Some(why) if status.code() == Some(Exit::Storage as i32) => Err(ProbeFailure::NotKept(why.to_owned())),
        Some(why) => Err(ProbeFailure::CannotCheck(why.to_owned())),
        None => Err(ProbeFailure::CannotCheck(format!("the keyring check ended with {status}"))),
    }
}

/// The recorded secret store of `dir`, if one was recorded.
fn read_record(dir: &Path) -> Result<Option<SecretsBackend>, CliError> {
    let path = dir.join(RECORD_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(CliError::storage(format!("cannot read {}: {e}", path.display()))),
    };
    match text.trim() {
        "keyring" => Ok(Some(SecretsBackend::Keyring)),
        "file" => Ok(Some(SecretsBackend::File)),
        _ => Err(CliError::storage(format!("{} does not name a secret store (keyring or file)", path.display()))
            .with_hint("write `keyring` or `file` in it, or delete it to use the OS keyring")),
    }
}

/// Records `backend` as the secret store of `dir`: written to a private
/// temporary file, then renamed over the old record.
fn write_record(dir: &Path, backend: SecretsBackend) -> Result<(), CliError> {
    let path = dir.join(RECORD_FILE);
    let tmp = dir.join(format!("{RECORD_FILE}.tmp-{}", std::process::id()));
    let word = match backend {
        SecretsBackend::Keyring => "keyring",
        SecretsBackend::File => "file",
    };
    let result = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp)?;
        file.write_all(format!("{word}\n").as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        CliError::storage(format!("cannot write {}: {e}", path.display()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_round_trips_and_a_strange_one_is_an_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert_eq!(read_record(dir.path()).expect("no record"), None);
        for backend in [SecretsBackend::File, SecretsBackend::Keyring] {
            write_record(dir.path(), backend).expect("write");
            assert_eq!(read_record(dir.path()).expect("read"), Some(backend));
        }
        let names: Vec<_> = std::fs::read_dir(dir.path()).expect("ls").flatten().map(|e| e.file_name()).collect();
        assert_eq!(names, [RECORD_FILE], "no temporary file is left");
        std::fs::write(dir.path().join(RECORD_FILE), "vault\n").expect("write");
        let error = read_record(dir.path()).expect_err("not a store");
        assert_eq!(error.exit_code(), std::process::ExitCode::from(Exit::Storage as u8));
    }
}
