//! In-memory stores for tests and ephemeral sessions. Failure injection lets
//! tests prove that an unavailable store never loses a session.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

use super::{KeyValueStore, StorageError};

/// A memory-backed [`SecretStore`](super::SecretStore) and [`KeyValueStore`]. Clones share content.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    entries: Arc<Mutex<BTreeMap<String, String>>>,
    unavailable: Arc<AtomicBool>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// While set, every call fails with [`StorageError::Unavailable`] (a locked keychain).
    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, Ordering::SeqCst);
    }

    /// How many entries are stored.
    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every key, sorted (for tests).
    pub fn all_keys(&self) -> Vec<String> {
        self.entries.lock().keys().cloned().collect()
    }

    fn check(&self) -> Result<(), StorageError> {
        if self.unavailable.load(Ordering::SeqCst) {
            Err(StorageError::Unavailable("memory store set unavailable".into()))
        } else {
            Ok(())
        }
    }
}

impl KeyValueStore for MemoryStore {
    fn get(&self, key: &str) -> Result<String, StorageError> {
        self.check()?;
        self.entries.lock().get(key).cloned().ok_or_else(|| StorageError::NotFound(key.into()))
    }

    fn set(&self, key: &str, value: &str) -> Result<(), StorageError> {
        self.check()?;
        self.entries.lock().insert(key.into(), value.into());
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.check()?;
        self.entries.lock().remove(key);
        Ok(())
    }

    fn keys(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.check()?;
        Ok(self.entries.lock().keys().filter(|k| k.starts_with(prefix)).cloned().collect())
    }
}

super::secret_store_via_key_value!(MemoryStore);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unavailable_is_an_error_not_an_empty_store() {
        let s = MemoryStore::new();
        KeyValueStore::set(&s, "a", "1").unwrap();
        s.set_unavailable(true);
        assert!(matches!(KeyValueStore::get(&s, "a"), Err(StorageError::Unavailable(_))));
        assert!(matches!(s.keys(""), Err(StorageError::Unavailable(_))));
        s.set_unavailable(false);
        assert_eq!(KeyValueStore::get(&s, "a").unwrap(), "1");
        assert!(matches!(KeyValueStore::get(&s, "b"), Err(StorageError::NotFound(_))));
    }
}
