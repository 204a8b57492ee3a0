//! The core's side of the host's stores: every call the core makes into a
//! [`SecretStore`] or [`KeyValueStore`] goes through these wrappers.
//!
//! Guarantees (DESIGN.md invariant 13): a store that panics is a
//! [`StorageError::Unavailable`] like one that throws, never an unwinding
//! core; `keys` comes back sorted, without duplicates and without keys
//! outside the prefix asked for, whatever the host returned.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use super::{KeyValueStore, SecretStore, StorageError, StoreNotice};

/// Runs one host call; a panic becomes `Unavailable`.
fn contained<T>(what: &'static str, call: impl FnOnce() -> Result<T, StorageError>) -> Result<T, StorageError> {
    catch_unwind(AssertUnwindSafe(call)).unwrap_or_else(|_| {
        tracing::error!(call = what, "the host's store panicked; treated as unavailable");
        Err(StorageError::Unavailable(format!("the host's store panicked in {what}")))
    })
}

/// A host secret store whose panics are contained.
pub(crate) struct GuardedSecrets(pub(crate) Arc<dyn SecretStore>);

/// A host key-value store whose panics are contained and whose key lists are cleaned.
pub(crate) struct GuardedValues(pub(crate) Arc<dyn KeyValueStore>);

impl SecretStore for GuardedSecrets {
    fn get(&self, key: &str) -> Result<String, StorageError> {
        contained("secret get", || self.0.get(key))
    }

    fn set(&self, key: &str, value: &str) -> Result<(), StorageError> {
        contained("secret set", || self.0.set(key, value))
    }

    fn delete(&self, key: &str) -> Result<(), StorageError> {
        contained("secret delete", || self.0.delete(key))
    }

    fn take_notices(&self) -> Vec<StoreNotice> {
        contained("secret notices", || Ok(self.0.take_notices())).unwrap_or_default()
    }
}

impl KeyValueStore for GuardedValues {
    fn get(&self, key: &str) -> Result<String, StorageError> {
        contained("value get", || self.0.get(key))
    }

    fn set(&self, key: &str, value: &str) -> Result<(), StorageError> {
        contained("value set", || self.0.set(key, value))
    }

    fn delete(&self, key: &str) -> Result<(), StorageError> {
        contained("value delete", || self.0.delete(key))
    }

    fn keys(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let mut keys = contained("value keys", || self.0.keys(prefix))?;
        keys.retain(|k| k.starts_with(prefix));
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    fn take_notices(&self) -> Vec<StoreNotice> {
        contained("value notices", || Ok(self.0.take_notices())).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Hostile;

    impl KeyValueStore for Hostile {
        fn get(&self, _: &str) -> Result<String, StorageError> {
            panic!("host bug")
        }
        fn set(&self, _: &str, _: &str) -> Result<(), StorageError> {
            panic!("host bug")
        }
        fn delete(&self, _: &str) -> Result<(), StorageError> {
            Err(StorageError::Unavailable("locked".into()))
        }
        fn keys(&self, _: &str) -> Result<Vec<String>, StorageError> {
            Ok(vec!["p.b".into(), "p.a".into(), "p.b".into(), "elsewhere".into()])
        }
    }

    #[test]
    fn panics_become_unavailable_and_key_lists_are_cleaned() {
        let store = GuardedValues(Arc::new(Hostile));
        assert!(matches!(store.get("k"), Err(StorageError::Unavailable(m)) if m.contains("panicked")));
        assert!(matches!(store.set("k", "v"), Err(StorageError::Unavailable(_))));
        assert!(matches!(store.delete("k"), Err(StorageError::Unavailable(m)) if m == "locked"));
        assert_eq!(store.keys("p.").unwrap(), ["p.a", "p.b"]);
    }
}
