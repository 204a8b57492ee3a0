"""Scenario j: 100 concurrent async calls all succeed, and after expiry they
share exactly one token request at the real provider (single-flight refresh)."""

import asyncio

import authstate as auth
from support import ALIAS, run

N = 100


def test_j_a_hundred_changed_waiters_all_resolve_on_one_change():
    manager = auth.ServerManager.in_memory()
    start = manager.connection_revision()

    async def scenario():
        gathered = asyncio.gather(*(manager.changed(start) for _ in range(N)))
        await asyncio.sleep(0)
        manager.add_oidc_server("https://b.example", "https://id.example.com", "app", "app:/cb", alias="b")
        return await gathered

    results = run(scenario())
    assert results == [manager.connection_revision()] * N


def test_j_a_hundred_mixed_calls_with_a_valid_token_do_no_io(rig, peer):
    r = rig()
    run(r.login())
    token = r.session.valid_access_token()
    revision = r.manager.connection_revision()
    peer.reset_counts()

    async def state():
        return r.manager.state(ALIAS)

    async def scenario():
        return await asyncio.gather(
            *(r.session.fresh_access_token() for _ in range(N)),
            *(r.manager.changed(revision - 1) for _ in range(N)),
            *(state() for _ in range(N)),
            *(auth.noop_async() for _ in range(N)),
        )

    results = run(scenario())
    assert results[:N] == [token] * N
    assert results[N:2 * N] == [revision] * N
    assert results[2 * N:3 * N] == [auth.SessionState.ACTIVE(provider=auth.ProviderKind.OIDC)] * N
    assert results[3 * N:] == [None] * N
    assert peer.counts()["token"] == 0


def test_j_a_hundred_callers_after_expiry_cause_exactly_one_token_request(rig, peer):
    r = rig()
    run(r.login())
    old = r.session.valid_access_token()
    revision = r.manager.connection_revision()
    r.clock.advance_secs(61)
    peer.reset_counts()

    async def state():
        return r.manager.state(ALIAS)

    async def scenario():
        return await asyncio.gather(
            *(r.session.fresh_access_token() for _ in range(N)),
            *(r.manager.changed(revision) for _ in range(N)),
            *(state() for _ in range(N)),
        )

    results = run(scenario())
    tokens = results[:N]
    assert len(set(tokens)) == 1 and tokens[0] != old, "every caller got the one new token"
    assert all(rev > revision for rev in results[N:2 * N]), "the refresh bumped the revision"
    assert all(s.is_active() for s in results[2 * N:])
    assert peer.counts()["token"] == 1, "exactly one token-endpoint request"
    assert r.session.valid_access_token() == tokens[0]
    assert peer.userinfo_status(tokens[0]) == 200


def test_j_a_hundred_401s_for_the_same_token_refresh_once(rig, peer):
    r = rig()
    run(r.login())
    old = r.session.valid_access_token()
    peer.reset_counts()

    async def scenario():
        return await asyncio.gather(*(r.session.on_response(401, None, old) for _ in range(N)))

    assert run(scenario()) == [auth.ResponseVerdict.RETRY()] * N
    assert peer.counts()["token"] == 1
    assert r.session.valid_access_token() not in (None, old)
