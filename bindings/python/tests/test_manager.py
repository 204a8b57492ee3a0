"""The generated Python module over the real cdylib: servers, state,
observation without callbacks, guards, return paths, typed errors."""

import asyncio

import pytest

import authstate_ffi as auth


def manager_with_server():
    manager = auth.ServerManager.in_memory()
    info = manager.add_oidc_server(
        "https://notes.example.com", "notes", "https://id.example.com", "app", "com.example:/cb"
    )
    return manager, info


def test_a_new_server_is_signed_out():
    manager, info = manager_with_server()
    assert info.alias == "notes"
    assert info.url == "https://notes.example.com/"
    assert info.provider == "oidc"
    assert manager.state("notes") == auth.SessionState.NO_SESSION()
    assert not manager.any_authenticated()
    assert [s.alias for s in manager.servers()] == ["notes"]


def test_bad_input_is_a_typed_error_not_a_crash():
    manager = auth.ServerManager.in_memory()
    for url in ["", "not a url", "ftp://x.example", "http://public.example", "x" * 100_000]:
        with pytest.raises(auth.AuthError.InvalidInput):
            manager.add_oidc_server(url, None, "https://id.example.com", "app", "app:/cb")
    with pytest.raises(auth.AuthError.UnknownServer):
        manager.state("nope")
    with pytest.raises(auth.AuthError.InvalidInput):
        auth.ServerManager.with_files("   ")


def test_duplicates_are_refused():
    manager, _ = manager_with_server()
    with pytest.raises(auth.AuthError.AlreadyExists):
        manager.add_oidc_server("https://other.example", "notes", "https://id.example.com", "app", "app:/cb")


def test_the_guard_redirects_a_signed_out_server_with_return_to():
    manager, _ = manager_with_server()
    assert manager.guard("/about", None, True) == auth.GuardDecision.ALLOW()
    decision = manager.guard("/s/notes/inbox", "notes", False)
    assert isinstance(decision, auth.GuardDecision.REDIRECT)
    assert "returnTo" in decision.to


def test_return_paths_are_validated():
    assert auth.validate_return_to("/rooms/42?tab=1") == "/rooms/42?tab=1"
    for hostile in ["https://evil.example", "//evil.example", "/\\evil", "javascript:alert(1)", "/%2F%2Fevil"]:
        with pytest.raises(auth.AuthError.InvalidInput):
            auth.validate_return_to(hostile)


def test_changed_resolves_when_the_revision_passes():
    manager = auth.ServerManager.in_memory()
    seen = manager.connection_revision()

    async def scenario():
        waiting = asyncio.ensure_future(manager.changed(seen))
        await asyncio.sleep(0)
        assert not waiting.done()
        manager.add_oidc_server("https://a.example", "a", "https://id.example.com", "app", "app:/cb")
        return await asyncio.wait_for(waiting, timeout=10)

    assert asyncio.run(scenario()) > seen


def test_a_hundred_concurrent_async_calls():
    manager = auth.ServerManager.in_memory()
    start = manager.connection_revision()

    async def scenario():
        waiters = [manager.changed(start) for _ in range(100)]
        gathered = asyncio.gather(*waiters)
        await asyncio.sleep(0)
        manager.add_oidc_server("https://b.example", "b", "https://id.example.com", "app", "app:/cb")
        return await asyncio.wait_for(gathered, timeout=10)

    results = asyncio.run(scenario())
    assert len(results) == 100 and all(r > start for r in results)


def test_state_survives_reopening_a_file_store(tmp_path):
    first = auth.ServerManager.with_files(str(tmp_path))
    first.add_oidc_server("https://c.example", "c", "https://id.example.com", "app", "app:/cb")
    again = auth.ServerManager.with_files(str(tmp_path))
    assert [s.alias for s in again.servers()] == ["c"]
