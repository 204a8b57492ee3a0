//! Time, injected. Every TTL and expiry in authstate reads a [`Clock`], so tests
//! drive time with [`ManualClock`] instead of sleeping.

use std::sync::Arc;

use parking_lot::RwLock;
use time::{Duration, OffsetDateTime};

/// A source of wall-clock time. Implementations must be cheap to call: the
/// token fast path reads the clock on every call.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time in UTC.
    fn now(&self) -> OffsetDateTime;

    /// The current time as nanoseconds since the Unix epoch. Must agree with
    /// [`now`](Clock::now); override it when it can be read more cheaply.
    fn unix_nanos(&self) -> i128 {
        self.now().unix_timestamp_nanos()
    }
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    fn unix_nanos(&self) -> i128 {
        // The token fast path reads this on every call: skip the calendar conversion.
        match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => d.as_nanos() as i128,
            Err(before) => -(before.duration().as_nanos() as i128),
        }
    }
}

/// A clock that moves only when told to. Clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<RwLock<OffsetDateTime>>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: OffsetDateTime) -> Self {
        Self { now: Arc::new(RwLock::new(start)) }
    }

    /// A clock standing at a fixed, arbitrary instant (2026-01-01T00:00:00Z).
    pub fn at_epoch() -> Self {
        Self::new(time::macros::datetime!(2026-01-01 00:00:00 UTC))
    }

    /// Moves the clock forward (or backward, for a negative duration).
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.write();
        *now = now.saturating_add(by);
    }

    /// Sets the clock to `to`.
    pub fn set(&self, to: OffsetDateTime) {
        *self.now.write() = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.now.read()
    }
}

/// A shared clock handle.
pub type SharedClock = Arc<dyn Clock>;

/// The years the stores can date a record in: RFC 3339 writes four-digit
/// years, and year 0 is left out because many readers refuse it. A clock
/// outside them makes a save fail with an error that says so.
pub const STORABLE_YEARS: std::ops::RangeInclusive<i32> = 1..=9999;

/// Whether the stores can write `at` (its UTC year is in [`STORABLE_YEARS`]).
pub fn is_storable(at: OffsetDateTime) -> bool {
    STORABLE_YEARS.contains(&at.to_offset(time::UtcOffset::UTC).year())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told_and_clones_share_time() {
        let clock = ManualClock::at_epoch();
        let other = clock.clone();
        let t0 = clock.now();
        assert_eq!(clock.now(), t0);
        other.advance(Duration::minutes(5));
        assert_eq!(clock.now() - t0, Duration::minutes(5));
    }

    #[test]
    fn storable_times_are_years_1_to_9999() {
        use time::macros::datetime;
        assert!(is_storable(datetime!(0001-01-01 00:00 UTC)));
        assert!(is_storable(datetime!(9999-12-31 23:59:59 UTC)));
        assert!(!is_storable(datetime!(0000-12-31 23:59:59 UTC)));
        assert!(!is_storable(datetime!(-0001-06-01 00:00 UTC)));
        assert!(!is_storable(datetime!(0001-01-01 00:30 +01:00)), "judged in UTC");
    }

    #[test]
    fn system_clock_is_close_to_now() {
        let d = SystemClock.now() - OffsetDateTime::now_utc();
        assert!(d.abs() < Duration::seconds(5));
        let n = SystemClock.unix_nanos() - OffsetDateTime::now_utc().unix_timestamp_nanos();
        assert!(n.abs() < 5_000_000_000);
        let manual = ManualClock::at_epoch();
        assert_eq!(manual.unix_nanos(), manual.now().unix_timestamp_nanos());
    }
}
