//! The core's own tokio runtime: async FFI methods spawn their work here and
//! await the handle, so Swift, Kotlin, Dart and Python executors can all
//! await them without a tokio context of their own.

use std::future::Future;
use std::sync::OnceLock;

use crate::AuthError;

static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();

fn runtime() -> Result<&'static tokio::runtime::Runtime, AuthError> {
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("authstate")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|detail| AuthError::Internal { detail: format!("cannot start the runtime: {detail}") })
}

/// Runs `work` on the core's runtime and waits for it.
pub(crate) async fn run<T: Send + 'static>(
    work: impl Future<Output = Result<T, AuthError>> + Send + 'static,
) -> Result<T, AuthError> {
    let handle = runtime()?.spawn(work);
    handle.await.map_err(|e| AuthError::Internal { detail: format!("task failed: {e}") })?
}
