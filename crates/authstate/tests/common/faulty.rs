//! A host store that misbehaves on cue: it throws, panics, returns garbage
//! or blocks, on chosen operations, from a chosen call on, for a chosen
//! number of calls. The memory store inside keeps what did get written.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use authstate::storage::{KeyValueStore, MemoryStore, SecretStore, StorageError};
use parking_lot::Mutex;

/// How a call misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Returns `Unavailable` (a locked keychain, a full disk).
    Throw,
    /// Panics (a host bug).
    Panic,
    /// Reads return junk: a value that is not JSON, keys with duplicates and
    /// strangers. Writes misbehave as `Throw`.
    Garbage,
    /// Blocks, then works.
    Block(Duration),
}

/// Which operation a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Get,
    Set,
    Delete,
    Keys,
}

#[derive(Debug, Clone, Default)]
struct Plan {
    fault: Option<Fault>,
    ops: Vec<Op>,
    /// Matching calls to let through first.
    skip: usize,
    /// Matching calls to fail after that.
    times: usize,
}

/// The misbehaving store. Clones share everything.
#[derive(Clone)]
pub struct Faulty {
    inner: Arc<dyn KeyValueStore>,
    plan: Arc<Mutex<Plan>>,
    calls: Arc<AtomicUsize>,
    faults: Arc<AtomicUsize>,
}

impl Default for Faulty {
    fn default() -> Self {
        Self::over(Arc::new(MemoryStore::new()))
    }
}

impl Faulty {
    /// Misbehaves in front of a memory store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Misbehaves in front of `inner`.
    pub fn over(inner: Arc<dyn KeyValueStore>) -> Self {
        Self { inner, plan: Arc::default(), calls: Arc::default(), faults: Arc::default() }
    }

    /// What the store holds under `key`, read past the faults.
    pub fn peek(&self, key: &str) -> Option<String> {
        self.inner.get(key).ok()
    }

    /// From the `skip`+1-th call of one of `ops` on, the next `times` such calls misbehave with `fault`.
    pub fn fail(&self, fault: Fault, ops: &[Op], skip: usize, times: usize) {
        *self.plan.lock() = Plan { fault: Some(fault), ops: ops.to_vec(), skip, times };
    }

    /// Every call works again.
    pub fn heal(&self) {
        *self.plan.lock() = Plan::default();
    }

    /// Calls made, of any operation.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Calls that misbehaved.
    pub fn faults(&self) -> usize {
        self.faults.load(Ordering::SeqCst)
    }

    /// The fault for this call of `op`, if it is one to misbehave.
    fn fault_for(&self, op: Op) -> Option<Fault> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mut plan = self.plan.lock();
        let fault = plan.fault?;
        if !plan.ops.contains(&op) {
            return None;
        }
        if plan.skip > 0 {
            plan.skip -= 1;
            return None;
        }
        if plan.times == 0 {
            return None;
        }
        plan.times -= 1;
        self.faults.fetch_add(1, Ordering::SeqCst);
        Some(fault)
    }

    fn misbehave(fault: Fault) -> Result<(), StorageError> {
        match fault {
            Fault::Throw | Fault::Garbage => Err(StorageError::Unavailable("injected: store refused".into())),
            Fault::Panic => panic!("injected: host store panicked"),
            Fault::Block(d) => {
                std::thread::sleep(d);
                Ok(())
            }
        }
    }
}

impl KeyValueStore for Faulty {
    fn get(&self, key: &str) -> Result<String, StorageError> {
        match self.fault_for(Op::Get) {
            Some(Fault::Garbage) => Ok("\u{0}not json {".into()),
            Some(fault) => Self::misbehave(fault).and_then(|()| self.inner.get(key)),
            None => self.inner.get(key),
        }
    }

    fn set(&self, key: &str, value: &str) -> Result<(), StorageError> {
        if let Some(fault) = self.fault_for(Op::Set) {
            Self::misbehave(fault)?;
        }
        self.inner.set(key, value)
    }

    fn delete(&self, key: &str) -> Result<(), StorageError> {
        if let Some(fault) = self.fault_for(Op::Delete) {
            Self::misbehave(fault)?;
        }
        self.inner.delete(key)
    }

    fn keys(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        match self.fault_for(Op::Keys) {
            Some(Fault::Garbage) => {
                let mut keys = self.inner.keys(prefix)?;
                keys.extend(keys.clone());
                keys.push("not.ours".into());
                Ok(keys)
            }
            Some(fault) => Self::misbehave(fault).and_then(|()| self.inner.keys(prefix)),
            None => self.inner.keys(prefix),
        }
    }
}

impl SecretStore for Faulty {
    fn get(&self, key: &str) -> Result<String, StorageError> {
        KeyValueStore::get(self, key)
    }

    fn set(&self, key: &str, value: &str) -> Result<(), StorageError> {
        KeyValueStore::set(self, key, value)
    }

    fn delete(&self, key: &str) -> Result<(), StorageError> {
        KeyValueStore::delete(self, key)
    }
}
