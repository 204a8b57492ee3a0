//! Advisory file locks between processes (`flock` on Unix, `LockFileEx` on
//! Windows, through `std::fs::File::lock`), with a bounded wait.
//!
//! Guarantees: the OS releases a lock when its holder dies, however it dies,
//! so a killed process never wedges the others; a wait never exceeds its
//! bound, and the async wait gives up at once when its cancel token fires.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::cancel::CancelToken;

/// The first pause between two attempts; it doubles up to [`MAX_POLL`].
const FIRST_POLL: Duration = Duration::from_millis(1);
/// The longest pause between two attempts: a waiter notices a released lock
/// at most this late (a lease is typically held for one token request, tens
/// of milliseconds); one `flock` attempt per pause costs next to nothing.
const MAX_POLL: Duration = Duration::from_millis(4);

/// Why a lock was not taken.
#[derive(Debug)]
pub(crate) enum LockFailure {
    /// Another process held it for longer than the bound.
    Busy,
    /// The caller's cancel token fired while waiting.
    Cancelled,
    /// The lock file could not be opened or locked.
    Io(std::io::Error),
}

/// A held exclusive lock; dropping it releases the lock.
#[derive(Debug)]
pub(crate) struct Held {
    file: File,
}

impl Held {
    /// The locked file (the lease journal lives in it).
    pub(crate) fn file(&self) -> &File {
        &self.file
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        // Closing the descriptor releases the lock too; unlocking first makes
        // it immediate even if a clone of the descriptor lives on.
        let _ = self.file.unlock();
    }
}

/// Opens (creating, private) the lock file at `path`.
pub(crate) fn open_lock_file(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Takes the lock on `path`, waiting at most `bound` (blocking the thread).
/// For short critical sections: store writes, commits.
pub(crate) fn lock_blocking(path: &Path, bound: Duration) -> Result<Held, LockFailure> {
    let file = open_lock_file(path).map_err(LockFailure::Io)?;
    let deadline = Instant::now() + bound;
    let mut pause = FIRST_POLL;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(Held { file }),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(MAX_POLL);
            }
            Err(TryLockError::WouldBlock) => return Err(LockFailure::Busy),
            Err(TryLockError::Error(e)) => return Err(LockFailure::Io(e)),
        }
    }
}

/// Takes the lock on `path` without blocking the runtime: waits at most
/// `bound`, and gives up when `cancel` fires. For long critical sections
/// held across the network (the refresh lease).
pub(crate) async fn lock_async(
    path: PathBuf,
    bound: Duration,
    cancel: Option<&CancelToken>,
) -> Result<Held, LockFailure> {
    let file = open_lock_file(&path).map_err(LockFailure::Io)?;
    let deadline = Instant::now() + bound;
    let mut pause = FIRST_POLL;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(Held { file }),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                let sleep = tokio::time::sleep(pause);
                match cancel {
                    Some(token) => tokio::select! {
                        () = sleep => {}
                        _ = token.cancelled() => return Err(LockFailure::Cancelled),
                    },
                    None => sleep.await,
                }
                pause = (pause * 2).min(MAX_POLL);
            }
            Err(TryLockError::WouldBlock) => return Err(LockFailure::Busy),
            Err(TryLockError::Error(e)) => return Err(LockFailure::Io(e)),
        }
    }
}

/// Takes the lock on `path` if it is free right now.
pub(crate) fn try_lock(path: &Path) -> Result<Option<Held>, std::io::Error> {
    let file = open_lock_file(path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(Held { file })),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_is_busy_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let held = lock_blocking(&path, Duration::from_secs(1)).unwrap();
        assert!(try_lock(&path).unwrap().is_none());
        assert!(matches!(lock_blocking(&path, Duration::from_millis(30)), Err(LockFailure::Busy)));
        drop(held);
        assert!(try_lock(&path).unwrap().is_some());
    }

    #[tokio::test]
    async fn an_async_wait_gives_up_when_cancelled() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let _held = lock_blocking(&path, Duration::from_secs(1)).unwrap();
        let cancel = CancelToken::new();
        cancel.cancel(crate::cancel::CancelReason::Caller);
        let waited = lock_async(path.clone(), Duration::from_secs(30), Some(&cancel)).await;
        assert!(matches!(waited, Err(LockFailure::Cancelled)));
        assert!(matches!(lock_async(path, Duration::from_millis(20), None).await, Err(LockFailure::Busy)));
    }
}
