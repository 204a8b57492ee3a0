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
    /// A clock at `unix_secs` (seconds since 1970-01-01 UTC).
    #[uniffi::constructor]
    pub fn new(unix_secs: i64) -> Result<Arc<Self>, AuthError> {
        Ok(Arc::new(Self { core: Arc::new(authstate::ManualClock::new(instant(unix_secs)?)) }))
    }

    /// Moves time forward by `secs`.
    pub fn advance_secs(&self, secs: u32) {
        self.core.advance(Duration::seconds(i64::from(secs)));
    }

    /// Sets the time to `unix_secs`; it may move backwards (device clocks do).
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

fn instant(unix_secs: i64) -> Result<OffsetDateTime, AuthError> {
    OffsetDateTime::from_unix_timestamp(unix_secs)
        .map_err(|_| AuthError::InvalidInput { detail: format!("{unix_secs} is not a representable time") })
}
