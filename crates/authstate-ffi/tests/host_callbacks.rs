//! Host-supplied stores and log sink, implemented here in Rust the way a
//! Swift or Kotlin host implements them: the manager stores through them,
//! a failing store is a typed error with nothing lost, records reach the sink.

mod common;

use common::add;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use authstate_ffi::{
    AuthError, KeyValueStore, LogLevel, LogRecord, LogSink, ManagerOptions, SecretStore, ServerManager, StoreError,
    clear_log_sink, set_log_sink,
};

/// A map-backed store that can be told to fail, like a locked Keychain.
#[derive(Default)]
struct MapStore {
    map: Mutex<BTreeMap<String, String>>,
    locked: Mutex<bool>,
}

impl MapStore {
    fn check(&self) -> Result<(), StoreError> {
        if *self.locked.lock().expect("lock") {
            return Err(StoreError::Unavailable { detail: "locked".into() });
        }
        Ok(())
    }
    fn keys_now(&self) -> Vec<String> {
        self.map.lock().expect("lock").keys().cloned().collect()
    }
}

impl SecretStore for MapStore {
    fn get(&self, key: String) -> Result<Option<String>, StoreError> {
        self.check()?;
        Ok(self.map.lock().expect("lock").get(&key).cloned())
    }
    fn set(&self, key: String, value: String) -> Result<(), StoreError> {
        self.check()?;
        self.map.lock().expect("lock").insert(key, value);
        Ok(())
    }
    fn delete(&self, key: String) -> Result<(), StoreError> {
        self.check()?;
        self.map.lock().expect("lock").remove(&key);
        Ok(())
    }
}

impl KeyValueStore for MapStore {
    fn get(&self, key: String) -> Result<Option<String>, StoreError> {
        SecretStore::get(self, key)
    }
    fn set(&self, key: String, value: String) -> Result<(), StoreError> {
        SecretStore::set(self, key, value)
    }
    fn delete(&self, key: String) -> Result<(), StoreError> {
        SecretStore::delete(self, key)
    }
    fn keys(&self, prefix: String) -> Result<Vec<String>, StoreError> {
        self.check()?;
        Ok(self.keys_now().into_iter().filter(|k| k.starts_with(&prefix)).collect())
    }
}

#[test]
fn the_manager_stores_through_host_stores_and_reopens_from_them() {
    let secrets = Arc::new(MapStore::default());
    let values = Arc::new(MapStore::default());
    let open = || {
        ServerManager::new(
            ManagerOptions::default(),
            Some(Arc::clone(&secrets) as Arc<dyn SecretStore>),
            Some(Arc::clone(&values) as Arc<dyn KeyValueStore>),
            None,
        )
        .expect("open")
    };
    let manager = open();
    add(&manager, "chat").expect("add");
    assert!(!values.keys_now().is_empty(), "the server list went to the host's key-value store");
    manager.drafts().save("chat".into(), "room".into(), "half a sentence".into()).expect("draft");

    let reopened = open();
    assert_eq!(reopened.servers().len(), 1, "the server list is read back from the host store");
    let draft = reopened.drafts().take("chat".into(), "room".into()).expect("take");
    assert_eq!(draft.as_deref(), Some("half a sentence"));
}

#[test]
fn a_locked_host_store_is_a_storage_error_and_loses_nothing() {
    let values = Arc::new(MapStore::default());
    let manager =
        ServerManager::new(ManagerOptions::default(), None, Some(Arc::clone(&values) as Arc<dyn KeyValueStore>), None)
            .expect("open");
    add(&manager, "chat").expect("add");
    let drafts = manager.drafts();
    drafts.save("chat".into(), "room".into(), "kept".into()).expect("draft");

    *values.locked.lock().expect("lock") = true;
    let result = drafts.save("chat".into(), "room".into(), "new".into());
    assert!(matches!(result, Err(AuthError::Storage { .. })), "{result:?}");
    *values.locked.lock().expect("lock") = false;
    assert_eq!(drafts.peek("chat".into(), "room".into()).expect("peek").as_deref(), Some("kept"));
}

#[derive(Default)]
struct Collect(Mutex<Vec<LogRecord>>);

impl LogSink for Collect {
    fn log(&self, record: LogRecord) {
        self.0.lock().expect("lock").push(record);
    }
}

#[test]
fn log_records_reach_the_sink_at_its_level_and_stop_when_cleared() {
    let early = || tracing::info!("a callsite first hit before any sink");
    early();
    let sink = Arc::new(Collect::default());
    set_log_sink(Arc::clone(&sink) as Arc<dyn LogSink>, LogLevel::Warn).expect("install");
    tracing::warn!(server = "https://chat.example", "refresh rejected");
    tracing::info!("below the sink's level");
    let records = sink.0.lock().expect("lock").clone();
    let warn = records.iter().find(|r| r.message.contains("refresh rejected")).expect("warn record");
    assert_eq!(warn.level, LogLevel::Warn);
    assert!(warn.message.contains("server=https://chat.example"), "{}", warn.message);
    assert!(!records.iter().any(|r| r.message.contains("below the sink's level")));

    clear_log_sink();
    tracing::warn!("after clearing");
    assert!(!sink.0.lock().expect("lock").iter().any(|r| r.message.contains("after clearing")));
    let again = Arc::new(Collect::default());
    set_log_sink(Arc::clone(&again) as Arc<dyn LogSink>, LogLevel::Trace).expect("a second sink replaces the first");
    early();
    let seen = again.0.lock().expect("lock").iter().any(|r| r.message.contains("first hit before any sink"));
    assert!(seen, "a callsite hit before the sink was installed is not silenced for good");
}
