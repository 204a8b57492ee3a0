"""The reproductions of issue #13, from Python, against the real Django peer
behind a relay (``relay.py``) that can answer 503 and records which refresh
token the server issued last:

- a log sink that raises during a due refresh answered 503 changes nothing:
  `TryLater`, never `Internal`, and once the sink is cleared every later
  `fresh_access_token` works and reaches the server;
- a sink that raises cannot turn a sign-in into `Internal` nor stop a
  sign-out from revoking at the server;
- a secret store whose `set` raises: the rotated tokens are in use and
  `persistence_pending`, saved at `on_resume` once the store unlocks, and a
  restart presents the new refresh token;
- a corrupt `secrets.json` is readable through the FFI (`restore_report`);
- a removed server's session answers `UnknownServer`.
"""

import json
import time

import pytest

import authstate as auth
import django_peer
import oidc_peer
from faults import Faulty, RaisingSink
from relay import Relay
from support import run

API = "api"
TOKENS = f"authstate.tokens.{API}"
REFRESH = "api/token/refresh/"


@pytest.fixture(scope="module")
def peer():
    try:
        running = django_peer.DjangoPeer()
    except oidc_peer.PeerUnavailable as why:
        if oidc_peer.peers_required():
            pytest.fail(f"the Django peer is required ({oidc_peer.REQUIRE_PEERS_VAR}=1) but {why}")
        pytest.skip(f"Django peer unavailable: {why}")
    yield running
    running.stop()


@pytest.fixture
def relay(peer):
    running = Relay(peer.base_url)
    yield running
    running.stop()


@pytest.fixture
def raising_sink():
    sink = RaisingSink()
    try:
        yield sink
    finally:
        auth.clear_log_sink()


def jwt_device(relay, secrets=None, values=None, directory=None, clock=None):
    clock = clock or auth.ManualClock(int(time.time()))
    options = auth.ManagerOptions(refresh_threshold_secs=5, directory=directory)
    manager = auth.ServerManager(options, secrets=secrets, values=values, clock=clock)
    if API not in [s.alias for s in manager.servers()]:
        manager.add_token_pair_server(relay.base_url, auth.simplejwt_settings("api/token/"), alias=API)
    return manager, clock


def sign_in(manager):
    return run(manager.sign_in_with_password(API, "alice", django_peer.PASSWORD))


def test_a_raising_sink_during_a_due_refresh_answered_503_changes_nothing(relay, raising_sink):
    manager, clock = jwt_device(relay)
    sign_in(manager)
    session = manager.session(API)
    first = session.valid_access_token()
    clock.advance_secs(301)

    auth.set_log_sink(raising_sink, auth.LogLevel.TRACE)
    relay.down = True
    with pytest.raises(auth.AuthError.TryLater):
        run(session.fresh_access_token())
    assert relay.count(REFRESH) == 1, "the refresh was sent, and answered 503"
    assert raising_sink.calls >= 1 and 1 <= auth.log_sink_failures() <= 3
    assert session.state().is_active(), "a 503 never signs out"

    auth.clear_log_sink()
    relay.down = False
    for attempt in range(1, 4):
        clock.advance_secs(301)  # past the backoff, and the token due again
        token = run(session.fresh_access_token())
        assert token not in (first, None)
        assert relay.count(REFRESH) == 1 + attempt, "every later call reaches the server"
        first = token
    assert session.state().is_active() and not session.persistence_pending()


def test_a_raising_sink_cannot_turn_sign_in_or_sign_out_into_errors(relay, peer, raising_sink):
    manager, _ = jwt_device(relay)
    auth.set_log_sink(raising_sink, auth.LogLevel.TRACE)
    result = sign_in(manager)
    assert result.persisted and manager.state(API).is_active()
    auth.set_log_sink(raising_sink, auth.LogLevel.TRACE)  # it was removed after 3 failures: install it again
    revoked = peer.counts()["jwt_blacklist"]
    assert run(manager.sign_out(API)) == auth.RevocationOutcome.REVOKED()
    assert peer.counts()["jwt_blacklist"] == revoked + 1, "the server was asked to revoke"
    assert manager.state(API) == auth.SessionState.NO_SESSION()
    assert raising_sink.calls >= 2


@pytest.mark.parametrize("failure", ["raise", "throw"])
def test_a_secret_store_whose_set_fails_keeps_the_rotated_tokens_and_saves_them_later(relay, failure):
    secrets, values = Faulty(), Faulty()
    manager, clock = jwt_device(relay, secrets, values)
    sign_in(manager)
    session = manager.session(API)
    signed_in_with = json.loads(secrets.data[TOKENS])["tokens"]["refresh"]
    clock.advance_secs(301)

    secrets.inject(failure, ["set"])
    revision = manager.connection_revision()
    token = run(session.fresh_access_token())
    assert token and relay.count(REFRESH) == 1
    assert session.persistence_pending() and session.token_info().persistence_pending
    assert manager.connection_revision() > revision, "observers learn that the state is pending"
    assert json.loads(secrets.data[TOKENS])["tokens"]["refresh"] == signed_in_with, "the store refused the new one"
    rotated = relay.current_refresh
    assert rotated != signed_in_with
    with pytest.raises(auth.AuthError.Storage):
        run(session.refresh())  # an explicit refresh says it could not save
    rotated = relay.current_refresh
    assert session.valid_access_token(), "the newest tokens are in use"

    secrets.heal()  # the Keychain unlocks
    run(manager.on_resume())
    assert not session.persistence_pending() and not session.token_info().persistence_pending
    assert json.loads(secrets.data[TOKENS])["tokens"]["refresh"] == rotated, "saved: the server's current token"

    restarted, _ = jwt_device(relay, secrets, values)
    run(restarted.session(API).refresh())
    assert relay.presented[-1] == rotated, "a restart presents the new refresh token, and the server takes it"


def test_a_corrupt_secrets_file_is_reported_to_the_host(relay, tmp_path):
    manager, _ = jwt_device(relay, directory=str(tmp_path))
    sign_in(manager)
    assert manager.restore_report().is_clean
    del manager
    (tmp_path / "secrets.json").write_text('{"format":1,"entries":')

    reopened, _ = jwt_device(relay, directory=str(tmp_path))
    report = reopened.restore_report()
    assert not report.is_clean
    assert report.tokens_missing == [API], report
    [notice] = report.notices
    assert notice.is_moved_aside() and notice.file.endswith("secrets.json")
    assert (tmp_path / notice.moved_to).exists() and notice.detail
    assert reopened.state(API) == auth.SessionState.NO_SESSION()
    assert reopened.store_notices() == [], "what opening found is in the report"


def test_a_removed_servers_session_answers_unknown_server(relay):
    manager, _ = jwt_device(relay)
    sign_in(manager)
    session = manager.session(API)
    manager.remove_server(API)
    assert session.is_removed() and session.state() == auth.SessionState.NO_SESSION()
    assert session.valid_access_token() is None and session.token_info() is None
    for call in (session.fresh_access_token, session.refresh, session.probe):
        with pytest.raises(auth.AuthError.UnknownServer):
            run(call())
    with pytest.raises(auth.AuthError.UnknownServer):
        session.sign_out_locally()
    assert relay.count(REFRESH) == 0, "nothing was sent for a removed server"


def test_the_new_expiry_reason_and_token_info_field_are_exposed():
    assert auth.ExpiryReason.REFRESH_INTERRUPTED in list(auth.ExpiryReason)
    info = auth.TokenInfo(expires_in_secs=60, has_refresh_token=True, has_id_token=False)
    assert info.persistence_pending is False, "defaults to false for hosts building one in tests"
