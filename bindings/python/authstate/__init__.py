"""authstate for Python: the generated module ``authstate_ffi``, re-exported,
plus async iterators over the manager's connection revision.

Observation is a loop over ``ServerManager.changed(after)``: no callback
crosses the FFI. ``revisions`` yields revisions, ``states`` one server's state.
A manager with a lock directory (``ManagerOptions.directory`` or
``lock_directory``) follows other processes sharing it on its own, so both
also see their sign-ins, refreshes and sign-outs, within a quarter second.

Import ``authstate`` rather than ``authstate_ffi``: it also keeps CPython
< 3.14 from aborting at exit after an async call (see ``_exit_guard``), and
reads returned values faster than the generated module (see ``_fast_lift``).
"""

from typing import AsyncIterator, Optional

import authstate_ffi
from authstate_ffi import *  # noqa: F401,F403  (the generated API is the API)
from authstate_ffi import ServerManager, SessionState

from . import _exit_guard, _fast_lift

_exit_guard.install()
_fast_lift.install()

__all__ = [*authstate_ffi.__all__, "revisions", "states"]


def revisions(manager: ServerManager, after: Optional[int] = None) -> AsyncIterator[int]:
    """Yields each new connection revision of ``manager``, forever.

    Starts after ``after`` (default: the revision when ``revisions`` is
    called, not when iteration begins), so no change made after that point is
    missed. Revisions are strictly increasing; a burst of changes made while
    the consumer is busy is coalesced into the latest revision. Stop by
    closing the iterator or cancelling the consuming task.
    """
    start = manager.connection_revision() if after is None else after

    async def loop(seen: int) -> AsyncIterator[int]:
        while True:
            seen = await manager.changed(seen)
            yield seen

    return loop(start)


async def states(manager: ServerManager, alias: str) -> AsyncIterator[SessionState]:
    """Yields the state of server ``alias``: first the state when iteration
    begins, then the state after each revision change whenever it differs
    (``!=``) from the last one yielded, so equal consecutive states are never
    repeated. The last state is always delivered; states that lasted less than
    one revision wake-up may be coalesced away. ``Active`` carries
    ``expires_in_secs``, so a refresh yields a new ``Active``. Raises
    ``AuthError.UnknownServer`` when the server does not exist or is removed.
    """
    seen = manager.connection_revision()  # read before the state: no gap
    last = manager.state(alias)
    yield last
    while True:
        seen = await manager.changed(seen)
        state = manager.state(alias)
        if state != last:
            last = state
            yield state
