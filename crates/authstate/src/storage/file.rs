//! An atomic JSON file store for desktop hosts and tests, safe to share
//! between processes (an app and its CLI, two windows, `make -j`).
//!
//! The whole map is one JSON document. Guarantees:
//! - **Atomic**: every write goes to a temporary file with a unique name in
//!   the same directory, is fsynced, renamed over the old file, and the
//!   directory is fsynced: a crash leaves the old or the new document.
//! - **No lost writes across processes** (DESIGN.md invariant 14): a write
//!   takes an exclusive lock on `<file>.lock`, re-reads the current document
//!   under it and changes only the keys it writes. The OS drops the lock of a
//!   process that dies.
//! - **Fresh reads**: a read re-reads the document when the file changed
//!   since it was last read (one `stat`), so other processes' writes are seen.
//! - **No orphans**: temporary files left by a killed writer are removed at
//!   open, under the lock (a live writer holds the lock while its file exists).
//! - **Reported corruption** (invariant 12): a document that does not parse
//!   is moved aside as `<name>.corrupt-<unix seconds>`, logged with `error!`,
//!   and reported through [`take_notices`](FileStore::take_notices); the
//!   store then starts empty. Never a panic.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::flock::{self, LockFailure};
use super::{KeyValueStore, StorageError, StoreNotice};

const FILE_FORMAT: u32 = 1;
/// The longest a write waits for another process's write to finish.
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// Makes temporary file names unique within this process.
static TEMP_SEQUENCE: AtomicU64 = AtomicU64::new(0);

#[derive(Serialize, Deserialize)]
struct Document {
    format: u32,
    entries: BTreeMap<String, String>,
}

/// What identifies one version of the file on disk: a rename changes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    #[cfg(unix)]
    inode: u64,
}

impl Stamp {
    fn of(metadata: &fs::Metadata) -> Self {
        Self {
            len: metadata.len(),
            modified: metadata.modified().ok(),
            #[cfg(unix)]
            inode: std::os::unix::fs::MetadataExt::ino(metadata),
        }
    }
}

/// The document as last read, and which version of the file it came from
/// (`None`: the file did not exist).
#[derive(Debug, Default)]
struct Cache {
    entries: BTreeMap<String, String>,
    stamp: Option<Stamp>,
}

/// A [`KeyValueStore`] (and, for tests and headless hosts, a [`SecretStore`](super::SecretStore):
/// the file is created `0600` but not encrypted) kept in one JSON file.
#[derive(Debug)]
pub struct FileStore {
    path: PathBuf,
    lock_path: PathBuf,
    cache: Mutex<Cache>,
    notices: Mutex<Vec<StoreNotice>>,
    first_moved_aside: Option<PathBuf>,
}

impl FileStore {
    /// Opens (or creates on first write) the store at `path`. Orphaned
    /// temporary files are removed; a corrupt file is moved aside and
    /// reported; an unreadable one is [`StorageError::Unavailable`].
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let path = path.into();
        let mut lock_name = path.file_name().unwrap_or_default().to_owned();
        lock_name.push(".lock");
        let lock_path = path.with_file_name(lock_name);
        let store =
            Self { path, lock_path, cache: Mutex::default(), notices: Mutex::default(), first_moved_aside: None };
        let dir_exists = store.dir().is_dir();
        let _held = if dir_exists { Some(store.lock()?) } else { None };
        if dir_exists {
            store.remove_orphans();
        }
        store.refresh(&mut store.cache.lock())?;
        let first_moved_aside =
            store.notices.lock().first().map(|StoreNotice::MovedAside { moved_to, .. }| moved_to.clone());
        Ok(Self { first_moved_aside, ..store })
    }

    /// Where a corrupt file found at open was moved, if one was.
    pub fn moved_aside(&self) -> Option<&Path> {
        self.first_moved_aside.as_deref()
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What this store found and dealt with since the last call (corrupt
    /// files moved aside), oldest first.
    pub fn take_notices(&self) -> Vec<StoreNotice> {
        std::mem::take(&mut *self.notices.lock())
    }

    fn dir(&self) -> PathBuf {
        match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    fn lock(&self) -> Result<flock::Held, StorageError> {
        flock::lock_blocking(&self.lock_path, LOCK_WAIT).map_err(|failure| match failure {
            LockFailure::Busy => StorageError::Unavailable(format!(
                "{}: another process has held its lock for over {} s",
                self.path.display(),
                LOCK_WAIT.as_secs()
            )),
            LockFailure::Cancelled => {
                StorageError::Unavailable(format!("{}: lock wait cancelled", self.path.display()))
            }
            LockFailure::Io(e) => unavailable(&self.lock_path, &e),
        })
    }

    /// Removes `<name>.tmp-*` files: with the lock held, no writer is using one.
    fn remove_orphans(&self) {
        let Some(name) = self.path.file_name().and_then(|n| n.to_str()) else { return };
        let prefix = format!("{name}.tmp-");
        let Ok(entries) = fs::read_dir(self.dir()) else { return };
        for entry in entries.flatten() {
            let orphan = entry.file_name().to_str().is_some_and(|n| n.starts_with(&prefix));
            if orphan && fs::remove_file(entry.path()).is_ok() {
                tracing::warn!(path = %entry.path().display(), "removed a temporary file left by an interrupted write");
            }
        }
    }

    /// Re-reads the document into `cache` if the file changed since it was read.
    fn refresh(&self, cache: &mut Cache) -> Result<(), StorageError> {
        let stamp = match fs::metadata(&self.path) {
            Ok(m) => Some(Stamp::of(&m)),
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(e) => return Err(unavailable(&self.path, &e)),
        };
        if stamp == cache.stamp && (stamp.is_some() || cache.entries.is_empty()) {
            return Ok(());
        }
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                *cache = Cache::default();
                return Ok(());
            }
            Err(e) => return Err(unavailable(&self.path, &e)),
        };
        let problem = match serde_json::from_slice::<Document>(&bytes) {
            Ok(doc) if doc.format == FILE_FORMAT => {
                *cache = Cache { entries: doc.entries, stamp };
                return Ok(());
            }
            Ok(doc) => format!("unknown file format {}", doc.format),
            // serde's message can quote the input (a token, in a secrets file): position only.
            Err(e) => format!("{:?} error at line {} column {}", e.classify(), e.line(), e.column()),
        };
        let moved_to = move_aside(&self.path, &problem)?;
        self.notices.lock().push(StoreNotice::MovedAside { file: self.path.clone(), moved_to, detail: problem });
        *cache = Cache::default();
        Ok(())
    }

    fn read<R>(&self, read: impl FnOnce(&BTreeMap<String, String>) -> R) -> Result<R, StorageError> {
        let mut cache = self.cache.lock();
        self.refresh(&mut cache)?;
        Ok(read(&cache.entries))
    }

    /// Applies `change` to the current document under the cross-process
    /// lock; writes only if it reports a change.
    fn mutate(&self, change: impl FnOnce(&mut BTreeMap<String, String>) -> bool) -> Result<(), StorageError> {
        let dir = self.dir();
        create_private_dir(&dir)?;
        let mut cache = self.cache.lock();
        let _held = self.lock()?;
        self.refresh(&mut cache)?;
        let mut next = cache.entries.clone();
        if !change(&mut next) {
            return Ok(());
        }
        let doc = Document { format: FILE_FORMAT, entries: next };
        write_atomically(&self.path, &dir, &doc)?;
        let stamp = fs::metadata(&self.path).ok().map(|m| Stamp::of(&m));
        *cache = Cache { entries: doc.entries, stamp };
        Ok(())
    }
}

fn unavailable(path: &Path, e: &std::io::Error) -> StorageError {
    StorageError::Unavailable(format!("{}: {e}", path.display()))
}

fn create_private_dir(dir: &Path) -> Result<(), StorageError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| unavailable(dir, &e))
}

fn move_aside(path: &Path, detail: &str) -> Result<PathBuf, StorageError> {
    let stamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut aside = path.as_os_str().to_owned();
    aside.push(format!(".corrupt-{stamp}"));
    let aside = PathBuf::from(aside);
    fs::rename(path, &aside).map_err(|e| unavailable(path, &e))?;
    tracing::error!(path = %path.display(), moved_to = %aside.display(), detail, "corrupt store file moved aside");
    Ok(aside)
}

fn write_atomically(path: &Path, dir: &Path, doc: &Document) -> Result<(), StorageError> {
    let bytes = serde_json::to_vec(doc).map_err(|e| StorageError::Unavailable(format!("cannot encode store: {e}")))?;
    let mut tmp_name = path.file_name().unwrap_or_default().to_owned();
    tmp_name.push(format!(".tmp-{}-{}", std::process::id(), TEMP_SEQUENCE.fetch_add(1, Ordering::Relaxed)));
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let mut file = open_private(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        unavailable(path, &e)
    })
}

#[cfg(unix)]
fn open_private(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().write(true).create_new(true).open(path)
}

impl KeyValueStore for FileStore {
    fn get(&self, key: &str) -> Result<String, StorageError> {
        self.read(|entries| entries.get(key).cloned())?.ok_or_else(|| StorageError::NotFound(key.into()))
    }

    fn set(&self, key: &str, value: &str) -> Result<(), StorageError> {
        self.mutate(|m| m.insert(key.into(), value.into()).as_deref() != Some(value))
    }

    fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.mutate(|m| m.remove(key).is_some())
    }

    fn keys(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.read(|entries| entries.keys().filter(|k| k.starts_with(prefix)).cloned().collect())
    }

    fn take_notices(&self) -> Vec<StoreNotice> {
        FileStore::take_notices(self)
    }
}

super::secret_store_via_key_value!(FileStore);

#[cfg(test)]
#[path = "file_tests.rs"]
mod tests;
