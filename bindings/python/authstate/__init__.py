"""authstate for Python: the generated module ``authstate_ffi``, re-exported,
plus async iterators over the core's watches.

Observation is a loop over ``ServerManager.watch_revisions()`` and
``watch_state(alias)``: no callback crosses the FFI, and the rules (what comes
first, what counts as a change, what a removal does) are the core's, the same
in Swift, Kotlin and Dart. A manager with a lock directory
(``ManagerOptions.directory`` or ``lock_directory``) follows other processes
sharing it on its own, so both also see their sign-ins, refreshes and
sign-outs, within a quarter second.

Import ``authstate`` rather than ``authstate_ffi``: it also keeps CPython
< 3.14 from aborting at exit after an async call (see ``_exit_guard``), and
reads returned values faster than the generated module (see ``_fast_lift``).
"""

from typing import AsyncIterator

import authstate_ffi
from authstate_ffi import *  # noqa: F401,F403  (the generated API is the API)
from authstate_ffi import ServerManager, SessionState

from . import _exit_guard, _fast_lift

_exit_guard.install()
_fast_lift.install()

__all__ = [*authstate_ffi.__all__, "revisions", "states"]


def revisions(manager: ServerManager) -> AsyncIterator[int]:
    """Yields ``manager``'s connection revision: the current one at once,
    then the latest each time it moves (strictly increasing; a burst while
    the consumer is busy is coalesced into the latest). A revision says that
    something changed, not what: read the state you need. Never ends on its
    own; closing the iterator or cancelling the consuming task releases the
    native wait at once.
    """
    watch = manager.watch_revisions()

    async def loop() -> AsyncIterator[int]:
        try:
            while (revision := await watch.next()) is not None:
                yield revision
        finally:
            watch.cancel()

    return loop()


def states(manager: ServerManager, alias: str) -> AsyncIterator[SessionState]:
    """Yields the state of server ``alias``: the current state at once, then
    each state that differs in kind, expiry reason or provider (a refresh, or
    another server's change, yields nothing). Ends normally when the server is
    removed, after one last ``NO_SESSION``. Raises ``AuthError.UnknownServer``
    here, at the call, for an unknown alias. Closing the iterator or
    cancelling the consuming task releases the native wait at once.
    """
    watch = manager.watch_state(alias)

    async def loop() -> AsyncIterator[SessionState]:
        try:
            while (observation := await watch.next()) is not None:
                yield observation.state
        finally:
            watch.cancel()

    return loop()
