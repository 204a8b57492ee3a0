//! The core's own tokio runtime: async FFI methods spawn their work here and
//! await the handle, so Swift, Kotlin, Dart and Python executors can all
//! await them without a tokio context of their own.
//!
//! A task that panics is a bug reported as `Internal`, never a wedged
//! runtime: its worker thread lives on, and the core frees whatever the task
//! held (a refresh flight's slot, DESIGN.md invariant 13).

use std::any::Any;
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

/// Runs `work` on the core's runtime and waits for it. A panic in `work` is
/// `Internal` naming the panic; the runtime goes on serving later calls.
pub(crate) async fn run<T: Send + 'static>(
    work: impl Future<Output = Result<T, AuthError>> + Send + 'static,
) -> Result<T, AuthError> {
    let handle = runtime()?.spawn(work);
    match handle.await {
        Ok(result) => result,
        Err(error) if error.is_panic() => Err(AuthError::Internal {
            detail: format!(
                "the operation panicked (a bug: please report it): {}; whatever it completed before is kept",
                panic_message(error.into_panic().as_ref())
            ),
        }),
        Err(_) => {
            Err(AuthError::Internal { detail: "the operation was cancelled: the runtime is shutting down".into() })
        }
    }
}

/// Runs `work` in the background on the core's runtime, for as long as it
/// lasts (it ends on its own, e.g. when what it serves is dropped).
pub(crate) fn spawn(work: impl Future<Output = ()> + Send + 'static) -> Result<(), AuthError> {
    drop(runtime()?.spawn(work));
    Ok(())
}

/// The text a panic was raised with, when it was text.
fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&'static str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_task_is_internal_and_the_runtime_serves_the_next_call() {
        for _ in 0..4 {
            // More panics than worker threads: none of them is lost for good.
            let result = run(async { if true { panic!("host bug in the middle") } else { Ok(()) } }).await;
            match result {
                Err(AuthError::Internal { detail }) => {
                    assert!(detail.contains("panicked") && detail.contains("host bug in the middle"), "{detail}")
                }
                other => panic!("expected Internal, got {other:?}"),
            }
        }
        assert_eq!(run(async { Ok(7) }).await, Ok(7));
    }

    #[test]
    fn panic_messages_are_read_from_either_payload() {
        assert_eq!(panic_message(&"static"), "static");
        assert_eq!(panic_message(&String::from("owned")), "owned");
        assert_eq!(panic_message(&42_u8), "a panic without a message");
    }
}
