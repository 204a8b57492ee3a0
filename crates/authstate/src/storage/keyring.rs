//! A [`SecretStore`] over the OS credential store, through the `keyring-core`
//! API (macOS Keychain, Windows Credential Manager, Secret Service, the Linux
//! kernel keyring). Which store is used is the host's choice.

use std::fmt;
use std::sync::Arc;

use keyring_core::{CredentialStore, Error as KeyringError};

use super::{SecretStore, StorageError};

/// Secrets in an OS credential store, one entry per key, under one service name.
#[derive(Clone)]
pub struct KeyringSecretStore {
    store: Arc<CredentialStore>,
    service: String,
}

impl fmt::Debug for KeyringSecretStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyringSecretStore")
            .field("vendor", &self.store.vendor())
            .field("service", &self.service)
            .finish()
    }
}

impl KeyringSecretStore {
    /// Secrets stored in `store` under the service name `service` (e.g. your app id).
    pub fn new(store: Arc<CredentialStore>, service: impl Into<String>) -> Self {
        Self { store, service: service.into() }
    }

    /// The Linux kernel keyring, via keyutils: the session keyring with the
    /// user's persistent keyring linked into it, so that entries outlive the
    /// process and the next process finds them.
    ///
    /// Why the link is made here, first: `linux-keyutils-keyring-store` takes
    /// the session keyring (`@s`) for every entry and links the persistent
    /// keyring into it. In a process without a session keyring of its own (a
    /// container, a service, a CI job) `@s` first stands for the shared
    /// user-session keyring, and that link makes the kernel give the process
    /// a private session keyring that dies with it: the first entry it
    /// touches is looked up in one keyring and every later one written to
    /// another, so the next process finds no tokens. Linking before any entry
    /// is touched puts every entry of every process in one place. Kernel
    /// credentials are per thread: open the store on the thread that creates
    /// the others (the main thread), as threads inherit it.
    #[cfg(all(feature = "keyutils", target_os = "linux"))]
    pub fn linux_keyutils(service: impl Into<String>) -> Result<Self, StorageError> {
        // Without persistent keyrings (a kernel built without them) nothing changes.
        let _ = linux_keyutils::KeyRing::get_persistent(linux_keyutils::KeyRingIdentifier::Session);
        let store = linux_keyutils_keyring_store::Store::new().map_err(|e| map_error("keyutils", e))?;
        Ok(Self::new(store, service))
    }

    fn entry(&self, key: &str) -> Result<keyring_core::Entry, StorageError> {
        self.store.build(&self.service, key, None).map_err(|e| map_error(key, e))
    }
}

fn map_error(key: &str, error: KeyringError) -> StorageError {
    match error {
        KeyringError::NoEntry => StorageError::NotFound(key.into()),
        KeyringError::BadEncoding(_) | KeyringError::BadDataFormat(..) | KeyringError::BadStoreFormat(_) => {
            StorageError::Corrupt {
                key: key.into(),
                detail: "credential store entry is not valid UTF-8 or data".into(),
            }
        }
        // Locked, unreachable, unsupported or refused: the store cannot be used now.
        // Only the variant's description is kept: platform errors never carry a secret,
        // but keeping them short keeps log lines readable.
        other => StorageError::Unavailable(format!("credential store: {other}")),
    }
}

impl SecretStore for KeyringSecretStore {
    fn get(&self, key: &str) -> Result<String, StorageError> {
        self.entry(key)?.get_password().map_err(|e| map_error(key, e))
    }

    fn set(&self, key: &str, value: &str) -> Result<(), StorageError> {
        self.entry(key)?.set_password(value).map_err(|e| map_error(key, e))
    }

    fn delete(&self, key: &str) -> Result<(), StorageError> {
        match self.entry(key)?.delete_credential() {
            Ok(()) | Err(KeyringError::NoEntry) => Ok(()),
            Err(e) => Err(map_error(key, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyring_core::mock;

    #[test]
    fn mock_store_round_trip_and_not_found() {
        let store = KeyringSecretStore::new(mock::Store::new().unwrap(), "authstate-test");
        assert!(matches!(store.get("k"), Err(StorageError::NotFound(_))));
        store.set("k", "v").unwrap();
        assert_eq!(store.get("k").unwrap(), "v");
        store.delete("k").unwrap();
        store.delete("k").unwrap();
        assert!(matches!(store.get("k"), Err(StorageError::NotFound(_))));
    }

    #[test]
    fn platform_failures_map_to_unavailable_not_not_found() {
        let e = map_error("k", KeyringError::NoStorageAccess("locked".into()));
        assert!(matches!(e, StorageError::Unavailable(_)));
        let e = map_error("k", KeyringError::PlatformFailure("dbus down".into()));
        assert!(matches!(e, StorageError::Unavailable(_)));
        let e = map_error("k", KeyringError::BadEncoding(vec![0xff]));
        assert!(matches!(e, StorageError::Corrupt { .. }));
    }

    #[test]
    fn mock_injected_error_surfaces_as_unavailable() {
        let store = KeyringSecretStore::new(mock::Store::new().unwrap(), "authstate-test");
        store.set("k", "v").unwrap();
        let entry = store.entry("k").unwrap();
        let cred: &mock::Cred = entry.as_any().downcast_ref().unwrap();
        cred.set_error(KeyringError::NoStorageAccess("locked".into()));
        assert!(matches!(entry.get_password().map_err(|e| map_error("k", e)), Err(StorageError::Unavailable(_))));
    }
}
