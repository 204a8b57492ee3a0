//! Log records to the host: a `LogSink` routes authstate's `tracing` events to
//! os_log, Logcat or `developer.log`. Optional; without one nothing is
//! formatted. Records never hold a secret: the core never logs one.
//!
//! The sink can never change an operation's outcome (DESIGN.md invariant
//! 13): a sink that throws (which UniFFI turns into a panic) or panics is
//! caught here, counted ([`log_sink_failures`]) rather than printed by the
//! panic hook, and, after [`FAILURES_BEFORE_DISABLING`] failures in a row,
//! removed. Records the core logs while the sink runs on the same thread (a
//! sink that calls back into authstate) are dropped, never delivered
//! recursively.

use std::cell::Cell;
use std::fmt::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Once, OnceLock, RwLock};

use tracing::field::{Field, Visit};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

use crate::AuthError;

/// How severe a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, uniffi::Enum)]
pub enum LogLevel {
    /// An invariant was violated: a bug.
    Error,
    /// A recoverable failure or an explicit rejection.
    Warn,
    /// A state change worth knowing about.
    Info,
    /// Detail for debugging.
    Debug,
    /// Everything.
    Trace,
}

impl From<&Level> for LogLevel {
    fn from(level: &Level) -> Self {
        match *level {
            Level::ERROR => Self::Error,
            Level::WARN => Self::Warn,
            Level::INFO => Self::Info,
            Level::DEBUG => Self::Debug,
            _ => Self::Trace,
        }
    }
}

/// One log record.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct LogRecord {
    /// Its severity.
    pub level: LogLevel,
    /// The module that logged it (`authstate::session`, ...).
    pub target: String,
    /// The message followed by its fields as `key=value`.
    pub message: String,
}

/// Receives log records, from any thread. Keep it quick: it runs inline.
/// It must not throw: a sink that throws or panics is skipped for that
/// record, counted in `log_sink_failures()`, and removed after 3 failures in
/// a row; the operation that logged goes on as if nothing happened.
#[uniffi::export(with_foreign)]
pub trait LogSink: Send + Sync {
    /// One record.
    fn log(&self, record: LogRecord);
}

/// Failures in a row after which a sink is removed, as by `clear_log_sink()`.
pub const FAILURES_BEFORE_DISABLING: u32 = 3;

type Installed = (Arc<dyn LogSink>, LogLevel);

static SINK: RwLock<Option<Installed>> = RwLock::new(None);
static SUBSCRIBER: OnceLock<Result<(), String>> = OnceLock::new();
static QUIET_SINK_PANICS: Once = Once::new();
/// Calls to the installed sink that failed, since it was installed.
static FAILURES: AtomicU64 = AtomicU64::new(0);
/// Failures since the sink's last success.
static FAILURES_IN_A_ROW: AtomicU32 = AtomicU32::new(0);

thread_local! {
    /// Whether this thread is inside the sink: records it causes are dropped.
    static IN_SINK: Cell<bool> = const { Cell::new(false) };
}

/// Routes records at `max_level` and more severe to `sink`, replacing any
/// previous sink (and zeroing `log_sink_failures()`). Fails with
/// `Configuration` when the process already has another global `tracing`
/// subscriber.
#[uniffi::export]
pub fn set_log_sink(sink: Arc<dyn LogSink>, max_level: LogLevel) -> Result<(), AuthError> {
    SUBSCRIBER
        .get_or_init(|| {
            let subscriber = tracing_subscriber::registry().with(SinkLayer);
            tracing::subscriber::set_global_default(subscriber).map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|detail| AuthError::Configuration { detail: format!("cannot install the log sink: {detail}") })?;
    quiet_sink_panics();
    let mut slot = SINK.write().unwrap_or_else(std::sync::PoisonError::into_inner);
    *slot = Some((sink, max_level));
    FAILURES.store(0, Ordering::Relaxed);
    FAILURES_IN_A_ROW.store(0, Ordering::Relaxed);
    Ok(())
}

/// Stops sending records to the sink.
#[uniffi::export]
pub fn clear_log_sink() {
    *SINK.write().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
}

/// How many calls to the sink failed (threw or panicked) since
/// `set_log_sink`. Each failed record is dropped; after 3 failures in a row
/// the sink is removed, as by `clear_log_sink()`.
#[uniffi::export]
pub fn log_sink_failures() -> u64 {
    FAILURES.load(Ordering::Relaxed)
}

fn current() -> Option<Installed> {
    SINK.read().ok().and_then(|slot| slot.clone())
}

/// Hands `record` to `sink`, containing any failure: the caller (a core
/// operation) never sees it.
fn deliver(sink: &Arc<dyn LogSink>, record: LogRecord) {
    IN_SINK.with(|inside| inside.set(true));
    let delivered = catch_unwind(AssertUnwindSafe(|| sink.log(record)));
    IN_SINK.with(|inside| inside.set(false));
    if delivered.is_ok() {
        FAILURES_IN_A_ROW.store(0, Ordering::Relaxed);
        return;
    }
    FAILURES.fetch_add(1, Ordering::Relaxed);
    if FAILURES_IN_A_ROW.fetch_add(1, Ordering::Relaxed) + 1 >= FAILURES_BEFORE_DISABLING {
        let mut slot = SINK.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Only this sink: one installed meanwhile starts with a clean slate.
        if slot.as_ref().is_some_and(|(installed, _)| Arc::ptr_eq(installed, sink)) {
            *slot = None;
        }
    }
}

/// Keeps the panic hook from printing the panics of a failing sink (UniFFI
/// puts the foreign exception's whole stack trace in the message): they are
/// counted instead. Every other panic reaches the hook that was installed.
fn quiet_sink_panics() {
    QUIET_SINK_PANICS.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !inside_sink() {
                previous(info);
            }
        }));
    });
}

fn inside_sink() -> bool {
    IN_SINK.with(Cell::get)
}

/// The `tracing` layer forwarding events to the installed sink.
struct SinkLayer;

impl<S: Subscriber> Layer<S> for SinkLayer {
    /// Asked again at every event: the sink and its level change at run time,
    /// and a cached "never" would silence a callsite first hit before a sink.
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        Interest::sometimes()
    }

    fn enabled(&self, metadata: &Metadata<'_>, _: Context<'_, S>) -> bool {
        !inside_sink() && current().is_some_and(|(_, max)| LogLevel::from(metadata.level()) <= max)
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        if inside_sink() {
            return;
        }
        let Some((sink, max)) = current() else { return };
        let metadata = event.metadata();
        let level = LogLevel::from(metadata.level());
        if level > max {
            return;
        }
        let mut text = Text::default();
        event.record(&mut text);
        deliver(&sink, LogRecord { level, target: metadata.target().to_owned(), message: text.finish() });
    }
}

/// The message, then `key=value` for every other field.
#[derive(Default)]
struct Text {
    message: String,
    fields: String,
}

impl Text {
    fn finish(self) -> String {
        if self.fields.is_empty() { self.message } else { format!("{}{}", self.message, self.fields) }
    }
}

impl Visit for Text {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}
