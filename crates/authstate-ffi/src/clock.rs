//! `ManualClock` across the FFI: host-side tests move time by hand instead of
//! sleeping (token expiry, draft TTLs, pre-auth age).

use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use crate::AuthError;

/// A clock that moves only when told. Pass it to `ServerManager.new` so every
/// expiry and TTL in that manager follows it.
#[derive(Debug, uniffi::Object)]
pub struct ManualClock {
    core: Arc<authstate::ManualClock>,
}

#[uniffi::export]
impl ManualClock {
    /// A clock at `unix_secs` (seconds since 1970-01-01 UTC). Times the
    /// stores cannot date a record with (before 0001-01-01 or after
    /// 9999-12-31 UTC) are `InvalidInput`.
    #[uniffi::constructor]
    pub fn new(unix_secs: i64) -> Result<Arc<Self>, AuthError> {
        Ok(Arc::new(Self { core: Arc::new(authstate::ManualClock::new(instant(unix_secs)?)) }))
    }

    /// Moves time forward by `secs`, stopping at the last storable second
    /// (9999-12-31T23:59:59Z).
    pub fn advance_secs(&self, secs: u32) {
        use authstate::Clock;
        let next = self.core.now().saturating_add(Duration::seconds(i64::from(secs)));
        self.core.set(if authstate::clock::is_storable(next) { next } else { last_storable() });
    }

    /// Sets the time to `unix_secs`; it may move backwards (device clocks do).
    /// Times outside 0001-01-01 … 9999-12-31 UTC are `InvalidInput`.
    pub fn set_unix_secs(&self, unix_secs: i64) -> Result<(), AuthError> {
        self.core.set(instant(unix_secs)?);
        Ok(())
    }

    /// The current time in seconds since 1970-01-01 UTC.
    pub fn now_unix_secs(&self) -> i64 {
        use authstate::Clock;
        self.core.now().unix_timestamp()
    }
}

impl ManualClock {
    /// The core clock, to hand to a manager.
    pub(crate) fn shared(&self) -> authstate::clock::SharedClock {
        Arc::clone(&self.core) as authstate::clock::SharedClock
    }
}

/// `unix_secs` as a time the stores can write.
fn instant(unix_secs: i64) -> Result<OffsetDateTime, AuthError> {
    OffsetDateTime::from_unix_timestamp(unix_secs).ok().filter(|t| authstate::clock::is_storable(*t)).ok_or_else(|| {
        AuthError::InvalidInput {
            detail: format!("{unix_secs} is outside the times the stores can write (years 1 to 9999)"),
        }
    })
}

/// 9999-12-31T23:59:59Z.
fn last_storable() -> OffsetDateTime {
    time::macros::datetime!(9999-12-31 23:59:59 UTC)
}
