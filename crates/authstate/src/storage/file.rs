//! An atomic JSON file store for desktop hosts and tests.
//!
//! The whole map is one JSON document. Every write goes to a temporary file in
//! the same directory, is fsynced, renamed over the old file, and the
//! directory is fsynced: a crash leaves the old or the new document, never a
//! torn one. A document that does not parse is moved aside as
//! `<name>.corrupt-<unix seconds>`, reported with `error!`, and the store
//! starts empty: never a panic (DESIGN.md invariant 12).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::{KeyValueStore, StorageError};

const FILE_FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Document {
    format: u32,
    entries: BTreeMap<String, String>,
}

/// A [`KeyValueStore`] (and, for tests and headless hosts, a [`SecretStore`](super::SecretStore):
/// the file is created `0600` but not encrypted) kept in one JSON file.
#[derive(Debug)]
pub struct FileStore {
    path: PathBuf,
    entries: Mutex<BTreeMap<String, String>>,
    moved_aside: Option<PathBuf>,
}

impl FileStore {
    /// Opens (or creates on first write) the store at `path`. A corrupt file is
    /// moved aside and reported through [`FileStore::moved_aside`]; an
    /// unreadable one is [`StorageError::Unavailable`].
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let path = path.into();
        let (entries, moved_aside) = match fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<Document>(&bytes) {
                Ok(doc) if doc.format == FILE_FORMAT => (doc.entries, None),
                Ok(doc) => {
                    let detail = format!("unknown file format {}", doc.format);
                    (BTreeMap::new(), Some(move_aside(&path, &detail)?))
                }
                Err(e) => {
                    // serde's message can quote the input (a token, in a secrets file): position only.
                    let detail = format!("{:?} error at line {} column {}", e.classify(), e.line(), e.column());
                    (BTreeMap::new(), Some(move_aside(&path, &detail)?))
                }
            },
            Err(e) if e.kind() == ErrorKind::NotFound => (BTreeMap::new(), None),
            Err(e) => return Err(unavailable(&path, &e)),
        };
        Ok(Self { path, entries: Mutex::new(entries), moved_aside })
    }

    /// Where a corrupt file found at open was moved, if one was.
    pub fn moved_aside(&self) -> Option<&Path> {
        self.moved_aside.as_deref()
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn mutate(&self, change: impl FnOnce(&mut BTreeMap<String, String>) -> bool) -> Result<(), StorageError> {
        let mut entries = self.entries.lock();
        let mut next = entries.clone();
        if !change(&mut next) {
            return Ok(());
        }
        write_atomically(&self.path, &Document { format: FILE_FORMAT, entries: next.clone() })?;
        *entries = next;
        Ok(())
    }
}

fn unavailable(path: &Path, e: &std::io::Error) -> StorageError {
    StorageError::Unavailable(format!("{}: {e}", path.display()))
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

fn write_atomically(path: &Path, doc: &Document) -> Result<(), StorageError> {
    let bytes = serde_json::to_vec(doc).map_err(|e| StorageError::Unavailable(format!("cannot encode store: {e}")))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir).map_err(|e| unavailable(&dir, &e))?;
    let mut tmp_name = path.file_name().unwrap_or_default().to_owned();
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let mut file = open_private(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(&dir)?.sync_all()
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        unavailable(path, &e)
    })
}

#[cfg(unix)]
fn open_private(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().write(true).create(true).truncate(true).open(path)
}

impl KeyValueStore for FileStore {
    fn get(&self, key: &str) -> Result<String, StorageError> {
        self.entries.lock().get(key).cloned().ok_or_else(|| StorageError::NotFound(key.into()))
    }

    fn set(&self, key: &str, value: &str) -> Result<(), StorageError> {
        self.mutate(|m| m.insert(key.into(), value.into()).as_deref() != Some(value))
    }

    fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.mutate(|m| m.remove(key).is_some())
    }

    fn keys(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        Ok(self.entries.lock().keys().filter(|k| k.starts_with(prefix)).cloned().collect())
    }
}

super::secret_store_via_key_value!(FileStore);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.json");
        let s = FileStore::open(&path).unwrap();
        KeyValueStore::set(&s, "a", "1").unwrap();
        KeyValueStore::set(&s, "b", "2").unwrap();
        KeyValueStore::delete(&s, "a").unwrap();
        let again = FileStore::open(&path).unwrap();
        assert_eq!(KeyValueStore::get(&again, "b").unwrap(), "2");
        assert!(matches!(KeyValueStore::get(&again, "a"), Err(StorageError::NotFound(_))));
        assert_eq!(again.keys("").unwrap(), vec!["b".to_string()]);
        assert!(again.moved_aside().is_none());
    }

    #[test]
    fn corrupt_file_is_moved_aside_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.json");
        fs::write(&path, b"{\"format\":1,\"entries\":{\"a\":").unwrap();
        let s = FileStore::open(&path).unwrap();
        let aside = s.moved_aside().unwrap().to_path_buf();
        assert!(aside.to_string_lossy().contains(".corrupt-"));
        assert!(aside.exists());
        assert!(!path.exists());
        assert!(s.keys("").unwrap().is_empty());
        KeyValueStore::set(&s, "a", "1").unwrap();
        assert_eq!(KeyValueStore::get(&FileStore::open(&path).unwrap(), "a").unwrap(), "1");
    }

    #[test]
    fn unknown_format_is_moved_aside_not_misread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.json");
        fs::write(&path, br#"{"format":99,"entries":{}}"#).unwrap();
        assert!(FileStore::open(&path).unwrap().moved_aside().is_some());
    }

    #[cfg(unix)]
    #[test]
    fn file_is_private_and_no_temp_files_remain() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.json");
        let s = FileStore::open(&path).unwrap();
        KeyValueStore::set(&s, "a", "1").unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn unwritable_location_is_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub");
        let s = FileStore::open(sub.join("store.json")).unwrap();
        fs::write(&sub, b"a file where the directory should be").unwrap();
        assert!(matches!(KeyValueStore::set(&s, "a", "1"), Err(StorageError::Unavailable(_))));
        assert!(matches!(KeyValueStore::get(&s, "a"), Err(StorageError::NotFound(_))));
        assert!(matches!(FileStore::open(sub.join("store.json")), Err(StorageError::Unavailable(_))));
    }
}
