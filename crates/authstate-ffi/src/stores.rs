//! Storage the host may supply: `SecretStore` (Keychain, Android Keystore,
//! flutter_secure_storage) and `KeyValueStore` (UserDefaults,
//! SharedPreferences). Both are optional; without them the Rust defaults
//! apply (atomic JSON files, or memory). Adapters here turn them into the
//! core's storage traits.

use std::sync::Arc;

use authstate::storage::{self as core, StorageError};

/// Why a host store failed. The core keeps its state in memory and retries
/// later; nothing is lost.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum StoreError {
    /// The store is temporarily unusable (a locked Keychain before first
    /// unlock, a busy database). Retried later.
    #[error("store unavailable: {detail}")]
    Unavailable {
        /// What happened (never a secret).
        detail: String,
    },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for StoreError {
    fn from(error: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Self::Unavailable { detail: format!("host store failed: {}", error.reason) }
    }
}

/// Secrets (tokens, PKCE verifiers): back it with the platform's secure storage.
/// Called from any thread; each call must be atomic.
#[uniffi::export(with_foreign)]
pub trait SecretStore: Send + Sync {
    /// The value under `key`, or `None` when there is none.
    fn get(&self, key: String) -> Result<Option<String>, StoreError>;
    /// Stores `value` under `key`, replacing any previous value.
    fn set(&self, key: String, value: String) -> Result<(), StoreError>;
    /// Deletes `key`; deleting a missing key succeeds.
    fn delete(&self, key: String) -> Result<(), StoreError>;
}

/// Non-secret values (server list, drafts): back it with the platform's
/// preferences store. Called from any thread; each call must be atomic.
#[uniffi::export(with_foreign)]
pub trait KeyValueStore: Send + Sync {
    /// The value under `key`, or `None` when there is none.
    fn get(&self, key: String) -> Result<Option<String>, StoreError>;
    /// Stores `value` under `key`, replacing any previous value.
    fn set(&self, key: String, value: String) -> Result<(), StoreError>;
    /// Deletes `key`; deleting a missing key succeeds.
    fn delete(&self, key: String) -> Result<(), StoreError>;
    /// Every key starting with `prefix`, in any order.
    fn keys(&self, prefix: String) -> Result<Vec<String>, StoreError>;
}

/// A host `SecretStore` seen as the core's.
pub(crate) struct HostSecrets(pub(crate) Arc<dyn SecretStore>);

/// A host `KeyValueStore` seen as the core's.
pub(crate) struct HostValues(pub(crate) Arc<dyn KeyValueStore>);

fn found(key: &str, value: Result<Option<String>, StoreError>) -> Result<String, StorageError> {
    value.map_err(unavailable)?.ok_or_else(|| StorageError::NotFound(key.to_owned()))
}

fn unavailable(error: StoreError) -> StorageError {
    StorageError::Unavailable(error.to_string())
}

impl core::SecretStore for HostSecrets {
    fn get(&self, key: &str) -> Result<String, StorageError> {
        found(key, self.0.get(key.to_owned()))
    }

    fn set(&self, key: &str, value: &str) -> Result<(), StorageError> {
        self.0.set(key.to_owned(), value.to_owned()).map_err(unavailable)
    }

    fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.0.delete(key.to_owned()).map_err(unavailable)
    }
}

impl core::KeyValueStore for HostValues {
    fn get(&self, key: &str) -> Result<String, StorageError> {
        found(key, self.0.get(key.to_owned()))
    }

    fn set(&self, key: &str, value: &str) -> Result<(), StorageError> {
        self.0.set(key.to_owned(), value.to_owned()).map_err(unavailable)
    }

    fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.0.delete(key.to_owned()).map_err(unavailable)
    }

    fn keys(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.0.keys(prefix.to_owned()).map_err(unavailable)
    }
}
