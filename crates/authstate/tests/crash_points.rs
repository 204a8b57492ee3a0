//! Crash safety, deterministically: every crash point inside every transition
//! of the scenario (a store write that never happens) restores the old or the
//! new state, never a mix (DESIGN.md invariants 6 and 10).

use std::sync::Arc;

use authstate::storage::{KeyValueStore, MemoryStore, SecretStore, StorageError};
use authstate::{ExpiryReason, ProviderKind};

#[path = "crash/scenario.rs"]
mod scenario;
use scenario::*;

// ---------------------------------------------------------------------------
// A deterministic replay of every crash point inside one transition.
// ---------------------------------------------------------------------------

/// Store writes (set or delete, either store) allowed before the simulated
/// crash; every later write fails, as if the process had died.
#[derive(Clone, Default)]
struct CrashPoint(Arc<std::sync::atomic::AtomicI64>);

impl CrashPoint {
    fn allow(&self, writes: i64) {
        self.0.store(writes, std::sync::atomic::Ordering::SeqCst);
    }

    fn write(&self) -> Result<(), StorageError> {
        if self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst) > 0 {
            Ok(())
        } else {
            Err(StorageError::Unavailable("simulated crash".into()))
        }
    }
}

/// A memory store that stops writing at the crash point.
struct Crashing {
    inner: MemoryStore,
    crash: CrashPoint,
}

impl KeyValueStore for Crashing {
    fn get(&self, key: &str) -> Result<String, StorageError> {
        KeyValueStore::get(&self.inner, key)
    }
    fn set(&self, key: &str, value: &str) -> Result<(), StorageError> {
        self.crash.write()?;
        KeyValueStore::set(&self.inner, key, value)
    }
    fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.crash.write()?;
        KeyValueStore::delete(&self.inner, key)
    }
    fn keys(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.inner.keys(prefix)
    }
}

impl SecretStore for Crashing {
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

/// Every transition of the cycle, interrupted after each of its store writes
/// (0, 1, 2, ...), must restore as the old or the new state. This replays
/// deterministically the crash windows the random kills above land in.
#[test]
fn every_crash_point_of_every_transition_restores_old_or_new_state() {
    let mut failures = Vec::new();
    for i in 0..CYCLE.len() as u64 {
        for allowed in 0..=3 {
            let (secrets, kv, crash) = (MemoryStore::new(), MemoryStore::new(), CrashPoint::default());
            crash.allow(i64::MAX);
            let manager = manager_over(
                Arc::new(Crashing { inner: secrets.clone(), crash: crash.clone() }),
                Arc::new(Crashing { inner: kv.clone(), crash: crash.clone() }),
            )
            .unwrap();
            let main = manager.add_server("https://main.example/", Some(MAIN), provider("main")).unwrap();
            for step in 0..=i {
                if step == i {
                    crash.allow(allowed);
                }
                let result = match action(step) {
                    Action::SignIn => {
                        main.sign_in(ProviderKind::Oidc, grant(&format!("a-{step}"), &format!("r-{step}")))
                    }
                    Action::MarkExpired => main.mark_expired(ExpiryReason::Marked),
                    Action::Logout => main.logout(),
                };
                assert!(step == i || result.is_ok(), "step {step}: {result:?}");
            }
            drop((main, manager));
            let old = expected_after(i.checked_sub(1));
            let new = expected_after(Some(i));
            let restarted = manager_over(Arc::new(secrets), Arc::new(kv)).unwrap();
            assert!(restarted.restore_report().corrupt.is_empty());
            let got = observed(&restarted.session(MAIN).expect("main restored").state()).unwrap();
            if got != old && got != new {
                failures.push(format!(
                    "step {i} ({:?}) interrupted after {allowed} store write(s): old {old:?}, new {new:?}, restored {got:?}",
                    action(i)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "restored states that are neither the old nor the new one:\n{}", failures.join("\n"));
}
