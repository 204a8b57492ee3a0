//! Log records to the host: a `LogSink` routes authstate's `tracing` events to
//! os_log, Logcat or `developer.log`. Optional; without one nothing is
//! formatted. Records never hold a secret: the core never logs one.

use std::fmt::Write as _;
use std::sync::{Arc, OnceLock, RwLock};

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
#[uniffi::export(with_foreign)]
pub trait LogSink: Send + Sync {
    /// One record.
    fn log(&self, record: LogRecord);
}

type Installed = (Arc<dyn LogSink>, LogLevel);

static SINK: RwLock<Option<Installed>> = RwLock::new(None);
static SUBSCRIBER: OnceLock<Result<(), String>> = OnceLock::new();

/// Routes records at `max_level` and more severe to `sink`, replacing any
/// previous sink. Fails with `Configuration` when the process already has
/// another global `tracing` subscriber.
#[uniffi::export]
pub fn set_log_sink(sink: Arc<dyn LogSink>, max_level: LogLevel) -> Result<(), AuthError> {
    SUBSCRIBER
        .get_or_init(|| {
            let subscriber = tracing_subscriber::registry().with(SinkLayer);
            tracing::subscriber::set_global_default(subscriber).map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|detail| AuthError::Configuration { detail: format!("cannot install the log sink: {detail}") })?;
    if let Ok(mut slot) = SINK.write() {
        *slot = Some((sink, max_level));
    }
    Ok(())
}

/// Stops sending records to the sink.
#[uniffi::export]
pub fn clear_log_sink() {
    if let Ok(mut slot) = SINK.write() {
        *slot = None;
    }
}

fn current() -> Option<Installed> {
    SINK.read().ok().and_then(|slot| slot.clone())
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
        current().is_some_and(|(_, max)| LogLevel::from(metadata.level()) <= max)
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let Some((sink, max)) = current() else { return };
        let metadata = event.metadata();
        let level = LogLevel::from(metadata.level());
        if level > max {
            return;
        }
        let mut text = Text::default();
        event.record(&mut text);
        sink.log(LogRecord { level, target: metadata.target().to_owned(), message: text.finish() });
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
