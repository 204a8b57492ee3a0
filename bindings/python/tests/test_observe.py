"""Scenario c: observing the connection revision through the package's async
iterators (`authstate.revisions`, `authstate.states`) across add, sign-in and
sign-out; the iterators' own guarantees against a scripted manager."""

import asyncio

import pytest

import authstate as auth
from support import ALIAS, run


async def next_of(iterator):
    return await asyncio.wait_for(anext(iterator), 10)


async def until_at_least(iterator, revision):
    """Consumes `iterator` until it yields a revision >= `revision`; every
    value seen must be strictly increasing."""
    seen = []
    while not seen or seen[-1] < revision:
        seen.append(await next_of(iterator))
        assert seen == sorted(set(seen)), f"revisions not strictly increasing: {seen}"
    return seen


def test_c_changed_resolves_only_once_the_revision_passes():
    manager = auth.ServerManager.in_memory()
    seen = manager.connection_revision()

    async def scenario():
        waiting = asyncio.ensure_future(manager.changed(seen))
        await asyncio.sleep(0)
        assert not waiting.done()
        manager.add_oidc_server("https://a.example", "https://id.example.com", "app", "app:/cb", alias="a")
        return await asyncio.wait_for(waiting, timeout=10)

    assert run(scenario()) == manager.connection_revision() > seen
    # Already past: resolves at once with the current revision.
    assert run(manager.changed(seen)) == manager.connection_revision()


def test_c_revisions_yields_each_add_and_remove():
    manager = auth.ServerManager.in_memory()

    async def scenario():
        revisions = auth.revisions(manager)
        manager.add_oidc_server("https://a.example", "https://id.example.com", "app", "app:/cb", alias="a")
        first = await next_of(revisions)
        assert first == manager.connection_revision()
        manager.remove_server("a")
        second = await next_of(revisions)
        assert second == manager.connection_revision() > first
        await revisions.aclose()

    run(scenario())


def test_c_revisions_after_an_older_revision_yields_at_once():
    manager = auth.ServerManager.in_memory()
    start = manager.connection_revision()
    manager.add_oidc_server("https://a.example", "https://id.example.com", "app", "app:/cb", alias="a")
    assert run(next_of(auth.revisions(manager, after=start))) == manager.connection_revision()


def test_c_revisions_and_states_across_add_sign_in_and_sign_out(rig):
    async def scenario():
        r = rig()
        manager = r.manager
        revisions = auth.revisions(manager, after=0)
        added = manager.connection_revision()
        assert added > 0, "adding the server bumped the revision"
        assert await until_at_least(revisions, added)

        states = auth.states(manager, ALIAS)
        assert await next_of(states) == auth.SessionState.NO_SESSION()

        before = manager.connection_revision()
        result = await r.login("/rooms/42")
        assert result.return_to == "/rooms/42"
        signed_in = manager.connection_revision()
        assert signed_in > before
        assert (await until_at_least(revisions, signed_in))[0] > before
        assert await next_of(states) == auth.SessionState.ACTIVE(expires_in_secs=60)

        outcome = await manager.sign_out(ALIAS)
        assert outcome == auth.RevocationOutcome.REVOKED()
        signed_out = manager.connection_revision()
        assert signed_out > signed_in
        assert (await until_at_least(revisions, signed_out))[0] > signed_in
        assert await next_of(states) == auth.SessionState.NO_SESSION()

        manager.remove_server(ALIAS)
        with pytest.raises(auth.AuthError.UnknownServer):
            await next_of(states)
        await revisions.aclose()

    run(scenario())


def test_c_states_of_an_unknown_server_raises_unknown_server():
    manager = auth.ServerManager.in_memory()
    with pytest.raises(auth.AuthError.UnknownServer):
        run(next_of(auth.states(manager, "nope")))


class ScriptedManager:
    """Stands in for a ServerManager: each `bump(state)` is one revision, and
    `until_waits(n)` returns once `changed` has been entered `n` times."""

    def __init__(self, state):
        self.revision, self.current, self.waits = 1, state, 0
        self.cond = asyncio.Condition()

    def connection_revision(self):
        return self.revision

    def state(self, alias):
        assert alias == ALIAS
        return self.current

    async def bump(self, state):
        async with self.cond:
            self.revision += 1
            self.current = state
            self.cond.notify_all()

    async def changed(self, after):
        async with self.cond:
            self.waits += 1
            self.cond.notify_all()
            await self.cond.wait_for(lambda: self.revision > after)
            return self.revision

    async def until_waits(self, n):
        async with self.cond:
            await asyncio.wait_for(self.cond.wait_for(lambda: self.waits >= n), 10)


def test_c_states_skips_revisions_that_leave_the_state_equal():
    no_session = auth.SessionState.NO_SESSION()
    expired = auth.SessionState.EXPIRED(reason=auth.ExpiryReason.MARKED)

    async def scenario():
        manager = ScriptedManager(no_session)
        states = auth.states(manager, ALIAS)
        assert await next_of(states) == no_session
        pending = asyncio.ensure_future(next_of(states))
        await manager.until_waits(1)
        for waits in range(2, 5):  # other servers change: an equal state is not yielded
            await manager.bump(auth.SessionState.NO_SESSION())
            await manager.until_waits(waits)  # read the state and went back to waiting
            assert not pending.done()
        await manager.bump(auth.SessionState.ACTIVE(expires_in_secs=60))
        assert await pending == auth.SessionState.ACTIVE(expires_in_secs=60)
        await manager.bump(auth.SessionState.ACTIVE(expires_in_secs=59))  # not equal: a refresh
        assert await next_of(states) == auth.SessionState.ACTIVE(expires_in_secs=59)
        await manager.bump(expired)
        assert await next_of(states) == expired

    run(scenario())


def test_c_revisions_coalesces_a_burst_into_the_latest():
    async def scenario():
        manager = ScriptedManager(None)
        revisions = auth.revisions(manager)
        for _ in range(5):
            await manager.bump(None)
        assert await next_of(revisions) == 6
        await manager.bump(None)
        assert await next_of(revisions) == 7

    run(scenario())
