//! Several processes, one set of sessions (DESIGN.md invariant 14): an app
//! and its extensions, a desktop app and the CLI, `make -j` calling
//! `authstate token`. They share a *lock directory* (the store directory for
//! file stores; the App Group container or `filesDir` for host stores) with:
//!
//! - `authstate.changes` — the [change counter](changes), bumped after every
//!   persisted change, so the others notice at their next read;
//! - `authstate.lock` — the commit lock: a session's re-read of the stores,
//!   its transition and its writes happen under it, so every process applies
//!   its events on top of the latest stored state and no write is lost;
//! - `<alias>.lease` — the refresh lease of one server: only its holder may
//!   present the refresh token, after re-reading the stored tokens; the file
//!   also holds the server's [refresh journal](journal).
//!
//! Every lock is an OS file lock, released when its holder dies.

pub(crate) mod changes;
pub(crate) mod journal;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cancel::CancelToken;
use crate::model::Alias;
use crate::storage::StorageError;
use crate::storage::flock::{self, Held, LockFailure};

use changes::ChangeCounter;
pub(crate) use journal::{JournalEntry, UnsavedState};

/// The longest a commit waits for another process's commit (they take milliseconds).
const COMMIT_WAIT: Duration = Duration::from_secs(10);

/// The lock directory, opened.
pub(crate) struct Coordination {
    dir: PathBuf,
    changes: ChangeCounter,
    /// Whether rotated tokens the secret store cannot take may wait in the
    /// journal (the lock directory is as private as the secret store).
    tokens_in_journal: bool,
}

impl std::fmt::Debug for Coordination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coordination").field("dir", &self.dir).field("changes", &self.changes()).finish()
    }
}

/// A held refresh lease, with the server's journal.
pub(crate) struct Lease {
    held: Held,
    journal_ok: bool,
}

impl Lease {
    /// The journal's newest entry (`None`: empty or unreadable).
    pub(crate) fn read(&self) -> Option<JournalEntry> {
        journal::read(self.held.file())
    }

    /// Records `entry`; false when the journal cannot take it (logged).
    pub(crate) fn record(&self, entry: &JournalEntry) -> bool {
        if !self.journal_ok {
            return false;
        }
        match journal::write(self.held.file(), entry) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "refresh journal not written");
                false
            }
        }
    }
}

impl Coordination {
    /// Opens (creating, private) the lock directory `dir`.
    pub(crate) fn open(dir: &Path, tokens_in_journal: bool) -> Result<Self, StorageError> {
        let unavailable = |e: std::io::Error| StorageError::Unavailable(format!("{}: {e}", dir.display()));
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(unavailable)?;
        let changes = ChangeCounter::open(&dir.join("authstate.changes")).map_err(unavailable)?;
        Ok(Self { dir: dir.to_path_buf(), changes, tokens_in_journal })
    }

    /// The change counter's value. A memory load: never blocks.
    pub(crate) fn changes(&self) -> u64 {
        self.changes.current()
    }

    /// Bumps the change counter (after a persisted change); returns the new value.
    pub(crate) fn bump(&self) -> u64 {
        self.changes.bump()
    }

    /// Whether the journal may hold tokens.
    pub(crate) fn tokens_in_journal(&self) -> bool {
        self.tokens_in_journal
    }

    /// Takes the commit lock (blocking, bounded: commits take milliseconds).
    pub(crate) fn commit_lock(&self) -> Result<Held, StorageError> {
        let path = self.dir.join("authstate.lock");
        flock::lock_blocking(&path, COMMIT_WAIT).map_err(|failure| match failure {
            LockFailure::Io(e) => StorageError::Unavailable(format!("{}: {e}", path.display())),
            _ => StorageError::Unavailable(format!(
                "{}: another process held the commit lock for over {} s",
                path.display(),
                COMMIT_WAIT.as_secs()
            )),
        })
    }

    fn lease_path(&self, alias: &Alias) -> PathBuf {
        self.dir.join(format!("{alias}.lease"))
    }

    /// Takes `alias`'s refresh lease, waiting at most `bound` and giving up
    /// when `cancel` fires.
    pub(crate) async fn lease(
        &self,
        alias: &Alias,
        bound: Duration,
        cancel: Option<&CancelToken>,
    ) -> Result<Lease, LockFailure> {
        let held = flock::lock_async(self.lease_path(alias), bound, cancel).await?;
        Ok(lease(held))
    }

    /// Takes `alias`'s refresh lease if it is free now.
    pub(crate) fn try_lease(&self, alias: &Alias) -> Option<Lease> {
        flock::try_lock(&self.lease_path(alias)).ok().flatten().map(lease)
    }

    /// Makes sure `alias`'s journal exists with all its blocks allocated.
    /// When another process holds the lease, it allocated the journal as it
    /// took it: the file's size says whether that worked.
    pub(crate) fn prepare_journal(&self, alias: &Alias) -> bool {
        match self.try_lease(alias) {
            Some(lease) => lease.journal_ok,
            None => std::fs::metadata(self.lease_path(alias)).is_ok_and(|m| m.len() >= journal::JOURNAL_SIZE),
        }
    }

    /// `alias`'s newest journal entry, read without the lease (entries are
    /// checksummed, so a write in progress is never misread).
    pub(crate) fn peek_journal(&self, alias: &Alias) -> Option<JournalEntry> {
        let file = std::fs::File::open(self.lease_path(alias)).ok()?;
        journal::read(&file)
    }

    /// Clears `alias`'s journal (the server was removed), so nothing in it
    /// can come back if the alias is added again. The file stays: removing a
    /// lock file another process may hold would split the lock in two.
    pub(crate) fn forget(&self, alias: &Alias) {
        if let Some(lease) = self.try_lease(alias) {
            lease.record(&JournalEntry::Idle);
        }
    }
}

fn lease(held: Held) -> Lease {
    let journal_ok = journal::preallocate(held.file());
    Lease { held, journal_ok }
}
