//! `CancelToken` across the FFI: the host cancels work it no longer needs
//! (a screen closed, a request superseded).

use std::sync::Arc;

use authstate::CancelReason;

/// Cancels the async calls it is passed to. Cancelling twice is harmless.
#[derive(Debug, Default, uniffi::Object)]
pub struct CancelToken {
    core: authstate::CancelToken,
}

#[uniffi::export]
impl CancelToken {
    /// A token not yet cancelled.
    #[uniffi::constructor]
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Cancels every call waiting with this token; they fail with `Cancelled`.
    pub fn cancel(&self) {
        self.core.cancel(CancelReason::Caller);
    }

    /// Whether `cancel` was called.
    pub fn is_cancelled(&self) -> bool {
        self.core.is_cancelled()
    }
}

impl CancelToken {
    /// The core token.
    pub(crate) fn core(&self) -> &authstate::CancelToken {
        &self.core
    }
}
