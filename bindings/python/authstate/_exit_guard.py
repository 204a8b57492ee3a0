"""Keeps Python < 3.14 from aborting at exit after an async authstate call.

The generated async glue is woken by a ctypes callback that runs on one of
the library's own (tokio) threads. That callback writes to the event loop's
self-pipe, which releases the GIL. If the main thread finishes and starts
interpreter finalization in that window, CPython < 3.14 ends the callback's
thread with ``pthread_exit`` when it asks for the GIL back, and the forced
unwind through Rust frames aborts the process ("FATAL: exception not
rethrown"). Python 3.14 parks such threads instead (gh-87135).

The guard counts callbacks in flight and, at exit, waits on a condition
until none is: the waiting releases the GIL, so the callback completes and
its thread leaves Python before finalization starts. A callback is counted
before it wakes the loop, so no awaited result can be seen by the main thread
before its callback is counted.
"""

import atexit
import threading

import authstate_ffi as _ffi

#: Upper bound on the wait at exit: a callback needs microseconds.
_EXIT_WAIT_SECS = 5.0

_idle = threading.Condition()
_in_flight = 0


def _tracked(original):
    @_ffi._UNIFFI_RUST_FUTURE_CONTINUATION_CALLBACK
    def continuation(handle, poll_code):
        global _in_flight
        with _idle:
            _in_flight += 1
        try:
            original(handle, poll_code)
        finally:
            with _idle:
                _in_flight -= 1
                _idle.notify_all()

    return continuation


def _drain():
    with _idle:
        _idle.wait_for(lambda: _in_flight == 0, timeout=_EXIT_WAIT_SECS)


def install():
    """Wraps the generated continuation callback once (idempotent)."""
    if getattr(_ffi, "_authstate_exit_guard", False):
        return
    # The generated `_uniffi_rust_call_async` reads this global at each poll.
    _ffi._uniffi_continuation_callback = _tracked(_ffi._uniffi_continuation_callback)
    _ffi._authstate_exit_guard = True
    atexit.register(_drain)
