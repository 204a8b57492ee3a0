//! Where sessions live between launches (DESIGN.md invariants 10 and 12).
//!
//! Two host-implementable stores: [`SecretStore`] (Keychain, Android Keystore,
//! flutter_secure_storage) for tokens and pre-auth verifiers only, and
//! [`KeyValueStore`] (UserDefaults, SharedPreferences) for everything else.
//! Their errors tell a locked or unreachable store ([`StorageError::Unavailable`])
//! from a missing entry and a corrupt one: a locked store is never read as empty.

/// Implements [`SecretStore`] for a [`KeyValueStore`] type by delegation.
/// Explicit per type on purpose: a blanket impl would make every host
/// key-value store (UserDefaults, SharedPreferences) a secret store.
macro_rules! secret_store_via_key_value {
    ($store:ty) => {
        impl $crate::storage::SecretStore for $store {
            fn get(&self, key: &str) -> Result<String, $crate::storage::StorageError> {
                $crate::storage::KeyValueStore::get(self, key)
            }

            fn set(&self, key: &str, value: &str) -> Result<(), $crate::storage::StorageError> {
                $crate::storage::KeyValueStore::set(self, key, value)
            }

            fn delete(&self, key: &str) -> Result<(), $crate::storage::StorageError> {
                $crate::storage::KeyValueStore::delete(self, key)
            }

            fn take_notices(&self) -> Vec<$crate::storage::StoreNotice> {
                $crate::storage::KeyValueStore::take_notices(self)
            }
        }
    };
}
pub(crate) use secret_store_via_key_value;

mod file;
pub(crate) mod flock;
mod guarded;
#[cfg(feature = "keyring")]
mod keyring;
mod memory;
pub(crate) mod schema;

pub use file::FileStore;
pub(crate) use guarded::{GuardedSecrets, GuardedValues};
#[cfg(feature = "keyring")]
pub use keyring::KeyringSecretStore;
pub use memory::MemoryStore;
pub use schema::SCHEMA_VERSION;

/// A storage failure, by what the caller should do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The store cannot be used right now (locked keychain, device not yet
    /// unlocked, disk error). Nothing was changed; try again later.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// No entry under that key.
    #[error("no entry under {0:?}")]
    NotFound(String),
    /// The entry exists but cannot be read; it has been reported and, for
    /// files, moved aside.
    #[error("corrupt entry under {key:?}: {detail}")]
    Corrupt {
        /// The key (never a secret).
        key: String,
        /// What was wrong (never the value).
        detail: String,
    },
}

/// Something a store found and dealt with that the host should know about
/// (shown to the user or reported), collected by the manager.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreNotice {
    /// A file that did not parse was moved aside; the store went on without
    /// its content.
    MovedAside {
        /// The store's file.
        file: std::path::PathBuf,
        /// Where its unreadable content now is.
        moved_to: std::path::PathBuf,
        /// What was wrong (a position, never the content).
        detail: String,
    },
}

/// A store for secrets. Implementations must be safe to call from any thread.
/// Keys are short ASCII strings such as `authstate.tokens.prod`.
pub trait SecretStore: Send + Sync {
    /// The value under `key`, or [`StorageError::NotFound`].
    fn get(&self, key: &str) -> Result<String, StorageError>;
    /// Stores `value` under `key`, replacing any previous value.
    fn set(&self, key: &str, value: &str) -> Result<(), StorageError>;
    /// Deletes `key`. Deleting a missing key succeeds.
    fn delete(&self, key: &str) -> Result<(), StorageError>;
    /// What the store found and dealt with since the last call (a corrupt
    /// file moved aside). Stores that never repair anything return nothing.
    fn take_notices(&self) -> Vec<StoreNotice> {
        Vec::new()
    }
}

/// A store for non-secret values. Implementations must be safe to call from any thread.
pub trait KeyValueStore: Send + Sync {
    /// The value under `key`, or [`StorageError::NotFound`].
    fn get(&self, key: &str) -> Result<String, StorageError>;
    /// Stores `value` under `key`, replacing any previous value.
    fn set(&self, key: &str, value: &str) -> Result<(), StorageError>;
    /// Deletes `key`. Deleting a missing key succeeds.
    fn delete(&self, key: &str) -> Result<(), StorageError>;
    /// Every key that starts with `prefix`, in any order.
    fn keys(&self, prefix: &str) -> Result<Vec<String>, StorageError>;
    /// What the store found and dealt with since the last call (a corrupt
    /// file moved aside). Stores that never repair anything return nothing.
    fn take_notices(&self) -> Vec<StoreNotice> {
        Vec::new()
    }
}

/// `Ok(None)` for a missing entry; other errors pass through.
pub(crate) fn optional(result: Result<String, StorageError>) -> Result<Option<String>, StorageError> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(StorageError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}
