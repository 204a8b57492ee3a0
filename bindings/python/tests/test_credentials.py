"""TokenPair and OpaqueToken servers from Python, against the real Django
REST framework server (simplejwt and knox): password sign-in, refresh and
its storm, a misconfigured refresh shape, the session probe, device
sessions, password change, sign-out everywhere, and their error mapping."""

import asyncio
import time

import pytest

import authstate as auth
import django_peer
import oidc_peer
from support import run

API = "api"


@pytest.fixture(scope="module")
def server():
    try:
        running = django_peer.DjangoPeer()
    except oidc_peer.PeerUnavailable as why:
        if oidc_peer.peers_required():
            pytest.fail(f"the Django peer is required ({oidc_peer.REQUIRE_PEERS_VAR}=1) but {why}")
        pytest.skip(f"Django peer unavailable: {why}")
    yield running
    running.stop()


def device(server, kind, refresh_shape=None):
    """A fresh manager (its own stores and ManualClock) with the server as `api`."""
    clock = auth.ManualClock(int(time.time()))
    manager = auth.ServerManager(auth.ManagerOptions(refresh_threshold_secs=5), clock=clock)
    if kind == "jwt":
        settings = auth.simplejwt_settings("api/token/")
        settings.refresh_shape = refresh_shape
        manager.add_token_pair_server(server.base_url, settings, alias=API)
    else:
        manager.add_opaque_token_server(server.base_url, auth.device_token_settings("api/v1/auth/"), alias=API)
    return manager, clock


def sign_in(manager, user="alice", label="pytest"):
    return run(manager.sign_in_with_password(API, user, django_peer.PASSWORD, device_label=label))


def test_token_pair_sign_in_refresh_storm_and_sign_out(server):
    manager, clock = device(server, "jwt")
    with pytest.raises(auth.AuthError.SignInFailed) as refused:
        run(manager.sign_in_with_password(API, "alice", "hunter2-not-it"))
    assert "hunter2" not in str(refused.value)
    assert manager.state(API) == auth.SessionState.NO_SESSION()

    result = sign_in(manager)
    assert result.server.provider == auth.ProviderKind.TOKEN_PAIR and result.device is None
    session = manager.session(API)
    assert session.state().is_active() and session.token_info().has_refresh_token
    first = session.valid_access_token()

    clock.advance_secs(301)
    before = server.counts()["jwt_refresh"]

    async def storm():
        return await asyncio.gather(*(session.fresh_access_token() for _ in range(100)))

    tokens = run(storm())
    assert len(set(tokens)) == 1 and tokens[0] != first
    assert server.counts()["jwt_refresh"] - before == 1, "100 concurrent callers, one refresh"

    assert run(manager.sign_out(API)) == auth.RevocationOutcome.REVOKED()
    assert manager.state(API) == auth.SessionState.NO_SESSION()


def test_a_misconfigured_refresh_shape_is_a_configuration_error(server):
    manager, clock = device(server, "jwt", refresh_shape=auth.RefreshShape.BEARER_HEADER())
    sign_in(manager)
    clock.advance_secs(301)
    with pytest.raises(auth.AuthError.Configuration) as misconfigured:
        run(manager.session(API).fresh_access_token())
    assert "api/token/refresh/" in str(misconfigured.value) and "400" in str(misconfigured.value)
    assert manager.state(API) == auth.SessionState.EXPIRED(provider=auth.ProviderKind.TOKEN_PAIR, reason=auth.ExpiryReason.MISCONFIGURED)


def test_opaque_devices_probe_password_change_and_sign_out_everywhere(server):
    phone, _ = device(server, "knox")
    laptop, _ = device(server, "knox")
    first = sign_in(phone, label="phone")
    assert first.device.other_sessions == 0 and first.device.device_label == "phone"
    second = sign_in(laptop, label="laptop")
    assert (second.device.other_sessions, second.device.multi_device) == (1, True)
    assert laptop.session(API).device_summary() == second.device

    assert run(phone.session(API).probe()) == auth.ProbeResult.VALID
    listed = run(phone.device_sessions(API))
    assert len(listed) == 2 and [s.is_current for s in listed].count(True) == 1

    with pytest.raises(auth.AuthError.InvalidInput):
        run(phone.change_password(API, "not-the-password", "new-pass-1"))
    result = run(phone.change_password(API, django_peer.PASSWORD, "new-pass-1"))
    assert result.persisted and phone.state(API).is_active()
    assert run(laptop.session(API).probe()) == auth.ProbeResult.STALE
    assert laptop.state(API) == auth.SessionState.EXPIRED(provider=auth.ProviderKind.OPAQUE_TOKEN, reason=auth.ExpiryReason.STALE_TOKEN)
    server.post("__test/users/", {"username": "alice", "password": django_peer.PASSWORD})  # restore

    run(phone.sign_out_everywhere(API))
    assert phone.state(API) == auth.SessionState.NO_SESSION()


def test_account_errors_arrive_typed(server):
    alice, _ = device(server, "knox")
    bob, _ = device(server, "knox")
    sign_in(alice)
    bobs_id = sign_in(bob, user="bob").device.session_id
    with pytest.raises(auth.AuthError.NotFound):
        run(alice.revoke_device_session(API, bobs_id))
    jwt, _ = device(server, "jwt")
    with pytest.raises(auth.AuthError.InvalidInput):
        run(jwt.device_sessions(API))
    with pytest.raises(auth.AuthError.InvalidInput):
        absolute = auth.TokenPairSettings(login_path="/absolute/", refresh_path="r/", logout_path=None)
        jwt.add_token_pair_server("https://other.example", absolute)
    with pytest.raises(auth.AuthError.UnknownServer):
        run(alice.sign_in_with_password("nope", "alice", "x"))
    signed_out, _ = device(server, "knox")
    with pytest.raises(auth.AuthError.SignInRequired):
        run(signed_out.device_sessions(API))
