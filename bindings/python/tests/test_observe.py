"""Scenario c: observing through the package's async iterators
(`authstate.revisions`, `authstate.states`), loops over the core's watches:
the current value first, other servers' changes and refreshes silent, a
removal ends the stream after NO_SESSION, an unknown alias refused at the
call, and cancelled streams leave no native wait behind."""

import asyncio
import time

import pytest

import authstate as auth
import oidc_peer
from support import ALIAS, FIGURES, run


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


def test_c_revisions_yields_the_current_revision_then_each_add_and_remove():
    manager = auth.ServerManager.in_memory()

    async def scenario():
        revisions = auth.revisions(manager)
        assert await next_of(revisions) == manager.connection_revision(), "the current revision first"
        manager.add_oidc_server("https://a.example", "https://id.example.com", "app", "app:/cb", alias="a")
        added = await next_of(revisions)
        assert added == manager.connection_revision()
        manager.remove_server("a")
        assert await next_of(revisions) == manager.connection_revision() > added
        await revisions.aclose()

    run(scenario())
    assert manager.pending_waits() == 0


def test_c_revisions_coalesces_a_burst_into_the_latest():
    manager = auth.ServerManager.in_memory()

    async def scenario():
        revisions = auth.revisions(manager)
        await next_of(revisions)
        for i in range(5):
            manager.add_oidc_server(f"https://s{i}.example", "https://id.example.com", "app", "app:/cb")
        assert await next_of(revisions) == manager.connection_revision(), "one emission: the latest"
        await revisions.aclose()

    run(scenario())


def test_c_states_across_add_sign_in_sign_out_and_removal(rig):
    async def scenario():
        r = rig()
        manager = r.manager
        oidc = auth.ProviderKind.OIDC
        states = auth.states(manager, ALIAS)
        assert await next_of(states) == auth.SessionState.NO_SESSION(), "the current state first"

        result = await r.login("/rooms/42")
        assert result.return_to == "/rooms/42"
        assert await next_of(states) == auth.SessionState.ACTIVE(provider=oidc)

        # A refresh changes the tokens, not the state: nothing is yielded.
        pending = asyncio.ensure_future(next_of(states))
        await r.session.refresh()
        await asyncio.sleep(0.05)
        assert not pending.done(), "a refresh is not a change of state"

        outcome = await manager.sign_out(ALIAS)
        assert outcome == auth.RevocationOutcome.REVOKED()
        assert await pending == auth.SessionState.NO_SESSION()

        manager.remove_server(ALIAS)
        with pytest.raises(StopAsyncIteration):
            await next_of(states)
        assert manager.pending_waits() == 0

    run(scenario())


def test_c_a_sign_in_on_another_server_yields_nothing_and_removal_ends_after_no_session(rig, peer):
    async def scenario():
        r = rig()
        manager = r.manager
        # Server b: another API signing in at the same provider.
        manager.add_oidc_server(peer.issuer.rstrip("/") + "/b/", peer.issuer, oidc_peer.CLIENT_ID,
                                oidc_peer.REDIRECT_URI, alias="b", scopes=["profile"])
        await r.login()
        states = auth.states(manager, ALIAS)
        assert await next_of(states) == auth.SessionState.ACTIVE(provider=auth.ProviderKind.OIDC)
        pending = asyncio.ensure_future(next_of(states))

        url = await manager.begin_login("b", None)
        await manager.complete_login(await asyncio.to_thread(oidc_peer.drive_login, url))
        assert manager.state("b").is_active()
        await asyncio.sleep(0.05)
        assert not pending.done(), "server b's sign-in is not a change of server a"

        # Removed while active: one last NO_SESSION, then the end.
        manager.remove_server(ALIAS)
        assert await pending == auth.SessionState.NO_SESSION()
        with pytest.raises(StopAsyncIteration):
            await next_of(states)

    run(scenario())


def test_c_states_of_an_unknown_server_raises_unknown_server_at_the_call():
    manager = auth.ServerManager.in_memory()
    with pytest.raises(auth.AuthError.UnknownServer):
        auth.states(manager, "nope")


def test_c_cancelling_a_thousand_streams_leaves_no_pending_native_wait():
    manager = auth.ServerManager.in_memory()
    manager.add_oidc_server("https://a.example", "https://id.example.com", "app", "app:/cb", alias="a")

    async def scenario():
        async def consume(iterator):
            async for _ in iterator:
                pass

        tasks = [asyncio.ensure_future(consume(auth.states(manager, "a"))) for _ in range(1000)]
        tasks += [asyncio.ensure_future(consume(auth.revisions(manager))) for _ in range(1000)]
        while manager.pending_waits() < 2000:
            await asyncio.sleep(0.01)
        waiting = manager.pending_waits()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # Released at once; the runtime drops each wait on its next poll.
        deadline = time.monotonic() + 5
        while manager.pending_waits() > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.001)
        return waiting

    waiting = run(scenario())
    assert manager.pending_waits() == 0
    FIGURES["python: 2000 streams cancelled"] = f"{waiting} native waits pending before, 0 after"
