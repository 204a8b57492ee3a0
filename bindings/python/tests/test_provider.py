"""Scenarios b (sign-in), d (expiry) and e (refresh and response verdicts)
against the real OpenID provider, with a ManualClock started at the real time."""

import asyncio
import urllib.parse

import pytest

import authstate as auth
import oidc_peer
from support import ALIAS, run


# b. sign in through the real provider ------------------------------------


def test_b_sign_in_activates_the_session_and_round_trips_return_to(rig, peer):
    r = rig()

    async def scenario():
        url = await r.manager.begin_login(ALIAS, "/rooms/42?draft=1")
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
        assert url.startswith(f"{peer.issuer}/")
        assert query["client_id"] == oidc_peer.CLIENT_ID
        assert query["redirect_uri"] == oidc_peer.REDIRECT_URI
        assert query["code_challenge_method"] == "S256"
        assert "offline_access" in query["scope"].split() and "openid" in query["scope"].split()
        assert query["state"] and query["nonce"]
        assert r.manager.state(ALIAS) == auth.SessionState.NO_SESSION(), "begin_login changes no state"

        callback = await asyncio.to_thread(oidc_peer.drive_login, url)
        result = await r.manager.complete_login(callback)
        assert result == auth.LoginResult(server=r.info, return_to="/rooms/42?draft=1", persisted=True)

    run(scenario())
    assert r.manager.state(ALIAS) == auth.SessionState.ACTIVE(provider=auth.ProviderKind.OIDC)
    assert r.session.is_authenticated() and r.manager.any_authenticated()
    assert r.session.token_info() == auth.TokenInfo(expires_in_secs=60, has_refresh_token=True, has_id_token=True)
    token = r.session.valid_access_token()
    assert token and peer.userinfo_status(token) == 200
    assert r.manager.guard("/s/idp/inbox", ALIAS) == auth.GuardDecision.ALLOW()
    assert r.manager.guard("/inbox") == auth.GuardDecision.ALLOW(), "a server is active"


def test_b_sign_in_without_return_to_gives_none(rig):
    r = rig()
    assert run(r.login()).return_to is None
    assert r.session.is_authenticated()


def test_b_two_sign_ins_in_flight_complete_independently(rig):
    first, second = rig(), rig()

    async def scenario():
        url_a = await first.manager.begin_login(ALIAS, "/a")
        url_b = await second.manager.begin_login(ALIAS, "/b")
        callback_b = await asyncio.to_thread(oidc_peer.drive_login, url_b, "bob")
        callback_a = await asyncio.to_thread(oidc_peer.drive_login, url_a)
        assert (await second.manager.complete_login(callback_b)).return_to == "/b"
        assert (await first.manager.complete_login(callback_a)).return_to == "/a"

    run(scenario())
    assert first.session.valid_access_token() != second.session.valid_access_token()


def test_b_a_user_who_declines_gets_cancelled_and_stays_signed_out(rig):
    r = rig()

    async def scenario():
        url = await r.manager.begin_login(ALIAS)
        callback = await asyncio.to_thread(oidc_peer.drive_login, url, deny=True)
        assert "error=access_denied" in callback
        with pytest.raises(auth.AuthError.Cancelled):
            await r.manager.complete_login(callback)

    run(scenario())
    assert r.manager.state(ALIAS) == auth.SessionState.NO_SESSION()


def test_b_an_abandoned_login_is_gone_and_its_late_callback_refused(rig):
    r = rig()

    async def scenario():
        url = await r.manager.begin_login(ALIAS)
        assert r.manager.abandon_login(url) is True, "the user dismissed the browser"
        assert r.manager.abandon_login(url) is False, "twice is not an error"
        callback = await asyncio.to_thread(oidc_peer.drive_login, url)
        with pytest.raises(auth.AuthError.SignInFailed):
            await r.manager.complete_login(callback)

    run(scenario())
    assert r.manager.state(ALIAS) == auth.SessionState.NO_SESSION()


def test_b_sign_out_revokes_and_forgets_the_tokens(rig, peer):
    r = rig()
    run(r.login())
    token = r.session.valid_access_token()
    assert run(r.manager.sign_out(ALIAS)) == auth.RevocationOutcome.REVOKED()
    assert r.manager.state(ALIAS) == auth.SessionState.NO_SESSION()
    assert r.session.valid_access_token() is None and r.session.token_info() is None
    assert peer.userinfo_status(token) == 401, "revoked at the provider"
    assert run(r.manager.sign_out(ALIAS)) == auth.RevocationOutcome.NOTHING_TO_REVOKE()


# d. expiry with a ManualClock ---------------------------------------------


def test_d_advancing_past_the_lifetime_shows_expiry_and_fresh_access_token_refreshes(rig, peer):
    r = rig()
    run(r.login())
    old = r.session.valid_access_token()
    r.clock.advance_secs(61)

    assert r.manager.state(ALIAS) == auth.SessionState.ACTIVE(provider=auth.ProviderKind.OIDC)
    assert r.session.token_info().expires_in_secs == -1
    assert r.session.valid_access_token() is None, "an expired token is never handed out"
    assert r.session.is_authenticated(), "expiry alone is not a transition: a refresh can continue"

    peer.reset_counts()
    fresh = run(r.session.fresh_access_token())
    assert fresh != old
    assert peer.counts()["token"] == 1
    assert r.session.valid_access_token() == fresh
    assert r.manager.state(ALIAS) == auth.SessionState.ACTIVE(provider=auth.ProviderKind.OIDC)
    assert peer.userinfo_status(fresh) == 200


def test_d_a_token_inside_the_refresh_threshold_is_due_and_refreshed(rig, peer):
    r = rig(threshold=5)
    run(r.login())
    old = r.session.valid_access_token()
    r.clock.advance_secs(54)
    assert r.session.valid_access_token() == old, "6 s left, threshold 5 s"
    r.clock.advance_secs(2)
    assert r.session.valid_access_token() is None, "4 s left: due for refresh"
    peer.reset_counts()
    assert run(r.session.fresh_access_token()) != old
    assert peer.counts()["token"] == 1


def test_d_on_resume_refreshes_a_token_that_expired_in_the_background(rig, peer):
    r = rig()
    run(r.login())
    old = r.session.valid_access_token()
    r.clock.advance_secs(3600)
    peer.reset_counts()
    run(r.manager.on_resume())
    assert peer.counts()["token"] == 1
    assert r.session.valid_access_token() not in (None, old)
    run(r.manager.on_resume())
    assert peer.counts()["token"] == 1, "nothing due: no second refresh"


def test_d_a_marked_expired_session_is_revived_by_a_refresh(rig, peer):
    r = rig()
    run(r.login())
    r.session.mark_expired()
    assert r.manager.state(ALIAS) == auth.SessionState.EXPIRED(provider=auth.ProviderKind.OIDC, reason=auth.ExpiryReason.MARKED)
    assert r.session.token_info().has_refresh_token, "tokens are kept"
    assert not r.session.is_authenticated() and r.session.valid_access_token() is None
    assert r.manager.guard("/s/idp/inbox", ALIAS) != auth.GuardDecision.ALLOW()
    peer.reset_counts()
    token = run(r.session.fresh_access_token())
    assert peer.counts()["token"] == 1
    assert r.session.is_authenticated() and r.session.valid_access_token() == token


# e. refresh and response verdicts -----------------------------------------


def test_e_refresh_gives_a_new_token_and_fresh_access_token_then_reuses_it(rig, peer):
    r = rig()
    run(r.login())
    old = r.session.valid_access_token()
    peer.reset_counts()
    run(r.session.refresh())
    new = r.session.valid_access_token()
    assert new not in (None, old)
    assert run(r.session.fresh_access_token()) == new
    assert peer.counts()["token"] == 1, "fresh_access_token with a valid token does no I/O"
    assert peer.userinfo_status(new) == 200


def test_e_401_with_the_current_token_refreshes_once_and_says_retry(rig, peer):
    r = rig()
    run(r.login())
    old = r.session.valid_access_token()
    peer.reset_counts()
    verdict = run(r.session.on_response(401, 'Bearer error="invalid_token"', old))
    assert verdict == auth.ResponseVerdict.RETRY()
    new = r.session.valid_access_token()
    assert new not in (None, old)
    assert peer.counts()["token"] == 1

    # A late 401 for the old token: retry with the current one, no second refresh.
    assert run(r.session.on_response(401, None, old)) == auth.ResponseVerdict.RETRY()
    assert peer.counts()["token"] == 1
    assert r.session.valid_access_token() == new


def test_e_403_is_permission_denied_and_leaves_the_session_untouched(rig, peer):
    r = rig()
    run(r.login())
    token = r.session.valid_access_token()
    state, revision = r.manager.state(ALIAS), r.manager.connection_revision()
    peer.reset_counts()
    assert run(r.session.on_response(403, None, token)) == auth.ResponseVerdict.PERMISSION_DENIED()
    scope = 'Bearer error="insufficient_scope", scope="admin"'
    assert run(r.session.on_response(401, scope, token)) == auth.ResponseVerdict.PERMISSION_DENIED()
    assert run(r.session.on_response(200, None, token)) == auth.ResponseVerdict.PASS()
    assert run(r.session.on_response(500, None, token)) == auth.ResponseVerdict.PASS()
    assert r.manager.state(ALIAS) == state and r.manager.connection_revision() == revision
    assert r.session.valid_access_token() == token
    assert peer.counts()["token"] == 0


def test_e_401_when_signed_out_says_signed_out(rig):
    r = rig()
    assert run(r.session.on_response(401, None, "whatever")) == auth.ResponseVerdict.SIGNED_OUT()
