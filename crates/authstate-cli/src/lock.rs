//! One command at a time per store directory (an advisory lock on
//! `<store-dir>/lock`), held from opening the stores until the command ends.
//!
//! Why: every command is its own process. The core's refresh is single-flight
//! within a process and its file stores write the whole document they read at
//! open, so without this lock two `token` calls in parallel (`make -j`,
//! `xargs -P`) would each present the same rotating refresh token (the
//! provider then revokes the grant), and a late writer would put back tokens
//! that an earlier one had rotated. Under the lock the second process opens
//! the stores after the first has saved, and finds fresh tokens.
//!
//! Guarantees: the lock is released when the process ends, however it ends
//! (the OS drops it with the file descriptor); waiting for it is bounded.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::exit::CliError;
use crate::output::say;

/// How long a command waits for another one on the same store directory.
/// Commands hold the lock only while they talk to a server (HTTP timeouts
/// bound that), never while a person types or a browser is open.
const WAIT_LIMIT: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_millis(25);

/// The held lock; dropping it releases it.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

impl StoreLock {
    /// Takes the lock of `dir`, waiting (up to two minutes) for another
    /// command to finish with it.
    pub fn acquire(dir: &Path) -> Result<Self, CliError> {
        let path = dir.join("lock");
        let mut options = OpenOptions::new();
        options.create(true).truncate(false).write(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options
            .open(&path)
            .map_err(|e| CliError::storage(format!("cannot open the lock file {}: {e}", path.display())))?;
        let deadline = Instant::now() + WAIT_LIMIT;
        let mut told = false;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Self { _file: file }),
                Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                    if !told && std::io::stderr().is_terminal() {
                        say(&format!("Waiting for another authstate command using {}…", dir.display()));
                        told = true;
                    }
                    std::thread::sleep(POLL);
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(CliError::storage(format!(
                        "another authstate command has held {} for over {} s",
                        path.display(),
                        WAIT_LIMIT.as_secs()
                    ))
                    .with_hint("wait for it to finish (or end it), then try again"));
                }
                Err(TryLockError::Error(e)) => {
                    return Err(CliError::storage(format!("cannot lock {}: {e}", path.display())));
                }
            }
        }
    }
}
