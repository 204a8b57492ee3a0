"""Scenario i: every AuthError variant Python can provoke arrives typed, and
garbage, empty and 1 MB inputs at every entry point never crash."""

import asyncio
import os
import signal
import socket
import urllib.parse

import pytest

import authstate as auth
import oidc_peer
from support import ALIAS, run

MB = "x" * (1 << 20)


def offline_manager():
    manager = auth.ServerManager.in_memory()
    manager.add_oidc_server("https://notes.example.com", "https://id.example.com", "app", "app:/cb", alias="notes")
    return manager


def raises(error, call):
    """Asserts `call()` (awaited if it is a coroutine) raises `error`."""
    with pytest.raises(error) as caught:
        result = call()
        if asyncio.iscoroutine(result):
            run(result)
    assert isinstance(caught.value, auth.AuthError)
    return caught.value


# InvalidInput ---------------------------------------------------------------


@pytest.mark.parametrize("url", ["", "   ", "not a url", "ftp://x.example", "http://public.example",
                                 "https://user:pw@x.example", "https://x.example/?q=1", "https://x.example/#f",
                                 "https://" + MB, MB])
def test_i_garbage_empty_or_huge_server_url_is_invalid_input(url):
    manager = auth.ServerManager.in_memory()
    raises(auth.AuthError.InvalidInput, lambda: manager.add_oidc_server(url, "https://id.example.com", "a", "a:/cb"))
    raises(auth.AuthError.InvalidInput, lambda: auth.PreAuthState(url, auth.ProviderKind.OIDC, None))
    assert manager.servers() == []


@pytest.mark.parametrize("alias", ["", "A B", "-x", "a/b", "é", "a" * 33, MB])
def test_i_bad_alias_is_invalid_input(alias):
    manager = auth.ServerManager.in_memory()
    raises(auth.AuthError.InvalidInput,
           lambda: manager.add_oidc_server("https://x.example", "https://id.example.com", "a", "a:/cb", alias=alias))


@pytest.mark.parametrize("path", ["", "rooms", "/" + MB, "/a\nb", "/a\x00b", "https://evil.example"])
def test_i_bad_return_path_is_invalid_input_at_every_entry_point(path):
    manager = offline_manager()
    raises(auth.AuthError.InvalidInput, lambda: auth.validate_return_to(path))
    raises(auth.AuthError.InvalidInput, lambda: auth.PreAuthState("https://x.example", auth.ProviderKind.OIDC, path))
    raises(auth.AuthError.InvalidInput, lambda: manager.begin_login("notes", path))


def test_i_other_invalid_inputs():
    manager = offline_manager()
    drafts = manager.drafts()
    raises(auth.AuthError.InvalidInput, lambda: drafts.save("notes", MB, "text"))
    raises(auth.AuthError.InvalidInput, lambda: drafts.save("notes", "room", MB))
    raises(auth.AuthError.InvalidInput, lambda: auth.ManualClock(2**62))
    raises(auth.AuthError.InvalidInput, lambda: auth.ManualClock(0).set_unix_secs(-(2**62)))
    raises(auth.AuthError.InvalidInput, lambda: auth.ServerManager.with_files("  "))
    raises(auth.AuthError.InvalidInput, lambda: auth.ServerManager(auth.ManagerOptions(directory="")))


def test_i_a_pem_that_holds_no_certificate_is_configuration():
    for pem in ["", "garbage", MB]:
        raises(auth.AuthError.Configuration, lambda: auth.ServerManager(auth.ManagerOptions(trusted_roots_pem=[pem])))


# UnknownServer, AlreadyExists ------------------------------------------------


@pytest.mark.parametrize("alias", ["ghost", "", MB])
def test_i_unknown_alias_is_unknown_server_at_every_entry_point(alias):
    manager = offline_manager()
    raises(auth.AuthError.UnknownServer, lambda: manager.state(alias))
    raises(auth.AuthError.UnknownServer, lambda: manager.session(alias))
    raises(auth.AuthError.UnknownServer, lambda: manager.remove_server(alias))
    raises(auth.AuthError.UnknownServer, lambda: manager.begin_login(alias))
    raises(auth.AuthError.UnknownServer, lambda: manager.sign_out(alias))
    raises(auth.AuthError.UnknownServer, lambda: manager.drafts().peek(alias, "room"))
    assert manager.guard("/s/x", alias) == auth.GuardDecision.REDIRECT(to="/")


def test_i_duplicate_is_already_exists():
    manager = offline_manager()
    raises(auth.AuthError.AlreadyExists,
           lambda: manager.add_oidc_server("https://notes.example.com/", "https://id.example.com", "a", "a:/cb"))


# SignInRequired ---------------------------------------------------------------


def test_i_fresh_access_token_or_refresh_when_signed_out_is_sign_in_required():
    session = offline_manager().session("notes")
    raises(auth.AuthError.SignInRequired, lambda: session.fresh_access_token())
    raises(auth.AuthError.SignInRequired, lambda: session.refresh())
    assert session.valid_access_token() is None


def test_i_a_removed_servers_session_is_unknown_server(rig):
    r = rig()
    run(r.login())
    r.manager.remove_server(ALIAS)
    r.clock.advance_secs(3600)
    raises(auth.AuthError.UnknownServer, lambda: r.session.fresh_access_token())


# SignInFailed ---------------------------------------------------------------


@pytest.mark.parametrize("callback", ["", "garbage", MB, "http://127.0.0.1/callback?code=abc&state=xyz",
                                      "http://127.0.0.1/callback?state=" + MB, "http://127.0.0.1/callback"])
def test_i_garbage_callback_is_sign_in_failed(callback):
    manager = offline_manager()
    raises(auth.AuthError.SignInFailed, lambda: manager.complete_login(callback))
    assert manager.state("notes") == auth.SessionState.NO_SESSION()


def test_i_tampered_callback_state_is_sign_in_failed_and_the_real_one_still_completes(rig):
    r = rig()

    async def scenario():
        url = await r.manager.begin_login(ALIAS, "/rooms/42")
        callback = await asyncio.to_thread(oidc_peer.drive_login, url)
        parts = urllib.parse.urlsplit(callback)
        query = [(k, v + "x" if k == "state" else v) for k, v in urllib.parse.parse_qsl(parts.query)]
        tampered = urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))
        with pytest.raises(auth.AuthError.SignInFailed):
            await r.manager.complete_login(tampered)
        assert r.manager.state(ALIAS) == auth.SessionState.NO_SESSION()
        assert (await r.manager.complete_login(callback)).return_to == "/rooms/42"
        with pytest.raises(auth.AuthError.SignInFailed):  # single use: a replay fails
            await r.manager.complete_login(callback)

    run(scenario())
    assert r.session.is_authenticated()


# TryLater, Configuration ------------------------------------------------------


def test_i_an_unreachable_provider_is_try_later():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: connections are refused
    manager = auth.ServerManager.in_memory()
    url = f"https://127.0.0.1:{port}"
    manager.add_oidc_server(url, url, "app", oidc_peer.REDIRECT_URI, alias="down")
    raises(auth.AuthError.TryLater, lambda: manager.begin_login("down"))
    assert manager.state("down") == auth.SessionState.NO_SESSION()


def test_i_a_wrong_issuer_is_configuration(peer):
    manager = auth.ServerManager(auth.ManagerOptions(trusted_roots_pem=[oidc_peer.TLS_CERT_PEM]))
    manager.add_oidc_server(peer.issuer, peer.issuer + "/nope", oidc_peer.CLIENT_ID, oidc_peer.REDIRECT_URI, alias="x")
    raises(auth.AuthError.Configuration, lambda: manager.begin_login("x"))


# Cancelled ------------------------------------------------------------------


def test_i_a_cancelled_token_cancels_fresh_access_token_and_the_refresh_still_lands(rig, peer):
    r = rig()
    run(r.login())
    old = r.session.valid_access_token()
    r.clock.advance_secs(61)
    cancel = auth.CancelToken()
    peer.reset_counts()
    os.kill(peer.process.pid, signal.SIGSTOP)  # the refresh cannot finish until SIGCONT

    async def scenario():
        try:
            call = asyncio.ensure_future(r.session.fresh_access_token_cancellable(cancel))
            await asyncio.sleep(0)
            assert not cancel.is_cancelled()
            cancel.cancel()
            cancel.cancel()  # harmless twice
            assert cancel.is_cancelled()
            with pytest.raises(auth.AuthError.Cancelled):
                await call
            assert r.session.is_authenticated(), "cancelling never changes state"
        finally:
            os.kill(peer.process.pid, signal.SIGCONT)
        # The exchange ran detached: the next call gets its result.
        return await r.session.fresh_access_token()

    fresh = run(scenario())
    assert fresh != old
    assert peer.counts()["token"] == 1, "the cancelled caller's refresh was the only one"
    assert run(r.session.fresh_access_token_cancellable(cancel)) == fresh, "a valid token needs no work to cancel"
    r.clock.advance_secs(61)
    raises(auth.AuthError.Cancelled, lambda: r.session.fresh_access_token_cancellable(cancel))  # cancelled before the call
    run(r.session.fresh_access_token())  # joins any refresh the cancelled call left running


# A late 401 after sign-out is a race, not an error ---------------------------


def test_i_mark_expired_when_signed_out_does_nothing():
    manager = offline_manager()
    session = manager.session("notes")
    revision = manager.connection_revision()
    session.mark_expired()  # no error, no transition
    session.sign_out_locally()  # signing out twice is fine
    assert manager.state("notes") == auth.SessionState.NO_SESSION()
    assert manager.connection_revision() == revision


# Nothing crashes ------------------------------------------------------------


def test_i_huge_and_odd_inputs_at_non_failing_entry_points_do_not_crash():
    manager = offline_manager()
    session = manager.session("notes")
    for location in ["", MB, "\x00", "/\u202e"]:
        assert isinstance(manager.guard(location, "notes"), auth.GuardDecision.REDIRECT)
        assert manager.guard(location, MB) == auth.GuardDecision.REDIRECT(to="/")
    expected = {0: auth.ResponseVerdict.PASS(), 200: auth.ResponseVerdict.PASS(),
                401: auth.ResponseVerdict.SIGNED_OUT(), 403: auth.ResponseVerdict.PERMISSION_DENIED(),
                65535: auth.ResponseVerdict.PASS()}
    for status, verdict in expected.items():
        assert run(session.on_response(status, MB, MB)) == verdict
    for status in [-1, 65536]:
        with pytest.raises(ValueError):  # not a u16: refused before the FFI
            run(session.on_response(status, None, ""))
    with pytest.raises(TypeError):
        manager.state(None)
