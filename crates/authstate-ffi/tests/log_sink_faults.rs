//! A log sink can never change an operation's outcome (DESIGN.md invariant
//! 13). A foreign sink that throws reaches Rust as a panic inside the
//! callback (its `log` returns nothing, so UniFFI has no error to return);
//! the sinks here panic the same way. One test: the sink is process-global.

mod common;

use common::add;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use authstate_ffi::{
    FAILURES_BEFORE_DISABLING, LogLevel, LogRecord, LogSink, ServerManager, clear_log_sink, log_sink_failures,
    set_log_sink,
};

/// Panics on every record while `fail` is set, like a Swift or Python sink that throws.
struct Throwing {
    calls: AtomicUsize,
    fail: Mutex<bool>,
}

impl LogSink for Throwing {
    fn log(&self, _: LogRecord) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if *self.fail.lock().unwrap() {
            panic!("Callback interface failure: the host's sink threw");
        }
    }
}

/// Logs from inside the sink, and reads from authstate (a host sink that
/// calls back into it). It must not change the manager: the core logs some
/// records while holding its membership lock.
struct Reentrant {
    calls: AtomicUsize,
    manager: Arc<ServerManager>,
}

impl LogSink for Reentrant {
    fn log(&self, _: LogRecord) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        tracing::warn!("logged from inside the sink");
        let _ = self.manager.servers();
        let _ = self.manager.state("a".into());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_sink_is_contained_counted_and_removed_after_failing_in_a_row() {
    let manager = ServerManager::in_memory().unwrap();
    let sink = Arc::new(Throwing { calls: AtomicUsize::new(0), fail: Mutex::new(true) });
    set_log_sink(Arc::clone(&sink) as Arc<dyn LogSink>, LogLevel::Trace).unwrap();

    // Each add logs; none of them sees the sink's failure.
    for alias in ["a", "b", "c", "d", "e"] {
        add(&manager, alias).expect("the operation's outcome is its own");
    }
    manager.on_resume().await.expect("an async operation on the runtime too");
    assert_eq!(manager.servers().len(), 5);
    let threshold = u64::from(FAILURES_BEFORE_DISABLING);
    assert_eq!(log_sink_failures(), threshold);
    assert_eq!(sink.calls.load(Ordering::SeqCst) as u64, threshold, "removed after failing {threshold} times in a row");

    // A sink that fails now and then stays installed: only failures in a row count.
    set_log_sink(Arc::clone(&sink) as Arc<dyn LogSink>, LogLevel::Trace).unwrap();
    assert_eq!(log_sink_failures(), 0, "installing a sink starts the count again");
    for round in 0..4 {
        *sink.fail.lock().unwrap() = true;
        tracing::warn!(round, "fails");
        *sink.fail.lock().unwrap() = false;
        tracing::warn!(round, "succeeds");
    }
    let before = sink.calls.load(Ordering::SeqCst);
    tracing::warn!("still installed");
    assert_eq!(sink.calls.load(Ordering::SeqCst), before + 1);
    assert_eq!(log_sink_failures(), 4);
    clear_log_sink();

    // A sink that logs, or calls authstate, from inside `log` gets no record of its own.
    let reentrant = Arc::new(Reentrant { calls: AtomicUsize::new(0), manager: Arc::clone(&manager) });
    set_log_sink(Arc::clone(&reentrant) as Arc<dyn LogSink>, LogLevel::Trace).unwrap();
    add(&manager, "f").unwrap();
    let calls = reentrant.calls.load(Ordering::SeqCst);
    assert!(calls >= 1, "the record of the add arrived");
    tracing::warn!("one more");
    assert_eq!(reentrant.calls.load(Ordering::SeqCst), calls + 1, "one record, nothing recursive");
    assert_eq!(log_sink_failures(), 0);
    clear_log_sink();
}
