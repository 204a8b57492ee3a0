"""Scenario k: Python classes implementing the generated callback interfaces.
Dict-backed SecretStore and KeyValueStore are the manager's storage (tokens in
the secret store only); a failing store is AuthError.Storage, never data
loss; a LogSink receives records from every thread and none holds a secret."""

import asyncio
import json
import threading
import urllib.parse

import pytest

import authstate as auth
import oidc_peer
from support import ALIAS, run


class DictSecrets(auth.SecretStore):
    """A SecretStore over a dict; `history` keeps every value ever set, and
    `fail` (an exception) makes every call raise it."""

    def __init__(self):
        self.data, self.history, self.fail = {}, [], None
        self.lock = threading.Lock()

    def _check(self):
        if self.fail is not None:
            raise self.fail

    def get(self, key):
        self._check()
        with self.lock:
            return self.data.get(key)

    def set(self, key, value):
        self._check()
        with self.lock:
            self.data[key] = value
            self.history.append(value)

    def delete(self, key):
        self._check()
        with self.lock:
            self.data.pop(key, None)


class DictValues(DictSecrets, auth.KeyValueStore):
    """A KeyValueStore over a dict."""

    def keys(self, prefix):
        self._check()
        with self.lock:
            return [key for key in self.data if key.startswith(prefix)]


class ListSink(auth.LogSink):
    def __init__(self):
        self.records = []
        self.threads = set()

    def log(self, record):
        self.records.append(record)
        self.threads.add(threading.get_ident())

    def mentions(self, text):
        return [r for r in self.records if text in r.message or text in r.target]


@pytest.fixture
def sink():
    installed = ListSink()
    try:
        yield installed
    finally:
        auth.clear_log_sink()


SECRET_FIELDS = {"access", "refresh", "id_token", "pkce_verifier", "csrf_state", "nonce"}


def secret_strings(values):
    """The values of every secret field inside the JSON `values` (tokens,
    PKCE verifier, CSRF state, nonce), wherever they are nested."""
    found = set()

    def walk(node):
        if isinstance(node, dict):
            for key, child in node.items():
                if key in SECRET_FIELDS and isinstance(child, str):
                    found.add(child)
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    for value in values:
        walk(json.loads(value))
    return found


def test_k_host_stores_hold_the_server_list_the_preauth_and_the_tokens(rig):
    secrets, values = DictSecrets(), DictValues()
    r = rig(secrets=secrets, values=values)
    assert secrets.data == {}, "a signed-out server has no secrets"
    assert any("idp" in key for key in values.data), "the server list is in the host's value store"

    async def scenario():
        url = await r.manager.begin_login(ALIAS, "/rooms/1")
        assert secrets.data, "the pre-auth (PKCE verifier) is saved in the secret store before the browser opens"
        assert not any("code_verifier" in v or "verifier" in v for v in values.data.values())
        callback = await asyncio.to_thread(oidc_peer.drive_login, url)
        return await r.manager.complete_login(callback)

    assert run(scenario()).persisted
    token = r.session.valid_access_token()
    assert any(token in value for value in secrets.data.values()), "the access token is in the host's secret store"
    assert not any(token in value for value in values.data.values()), "and only there"

    # Another manager over the same host stores restores the session as it was.
    again = r.open_manager()
    assert again.state(ALIAS) == auth.SessionState.ACTIVE(provider=auth.ProviderKind.OIDC)
    assert again.session(ALIAS).valid_access_token() == token

    assert run(r.manager.sign_out(ALIAS)) == auth.RevocationOutcome.REVOKED()
    assert not any(token in value for value in secrets.data.values()), "sign-out deletes the tokens"
    assert r.open_manager().state(ALIAS) == auth.SessionState.NO_SESSION()


@pytest.mark.parametrize("failure", [auth.StoreError.Unavailable("locked"), RuntimeError("host bug")],
                         ids=["store_error", "unexpected_exception"])
def test_k_a_failing_value_store_is_storage_error(failure):
    values = DictValues()
    manager = auth.ServerManager(auth.ManagerOptions(), values=values)
    manager.add_oidc_server("https://a.example", "https://id.example.com", "app", "app:/cb", alias="a")
    revision = manager.connection_revision()
    values.fail = failure
    with pytest.raises(auth.AuthError.Storage):
        manager.add_oidc_server("https://b.example", "https://id.example.com", "app", "app:/cb", alias="b")
    with pytest.raises(auth.AuthError.Storage):
        manager.drafts().save("a", "room", "text")
    with pytest.raises(auth.AuthError.Storage):
        auth.ServerManager(auth.ManagerOptions(), values=values)
    assert [s.alias for s in manager.servers()] == ["a"]
    assert manager.connection_revision() == revision
    values.fail = None
    manager.add_oidc_server("https://b.example", "https://id.example.com", "app", "app:/cb", alias="b")


def test_k_a_locked_secret_store_fails_sign_in_with_storage_and_keeps_the_session(rig):
    secrets = DictSecrets()
    r = rig(secrets=secrets, values=DictValues())
    secrets.fail = auth.StoreError.Unavailable("keychain locked")
    with pytest.raises(auth.AuthError.Storage):
        run(r.manager.begin_login(ALIAS))
    secrets.fail = None
    run(r.login())
    token = r.session.valid_access_token()
    secrets.fail = auth.StoreError.Unavailable("keychain locked")
    r.clock.advance_secs(61)
    fresh = run(r.session.fresh_access_token())
    assert fresh != token and r.session.is_authenticated(), "a locked store never signs the user out"


def test_k_log_sink_gets_records_from_every_thread_and_none_holds_a_secret(rig, sink):
    secrets = DictSecrets()
    auth.set_log_sink(sink, auth.LogLevel.TRACE)
    r = rig(secrets=secrets, values=DictValues())

    async def scenario():
        url = await r.manager.begin_login(ALIAS, "/rooms/1")
        callback = await asyncio.to_thread(oidc_peer.drive_login, url)
        await r.manager.complete_login(callback)
        first = r.session.valid_access_token()
        await r.session.refresh()
        await r.session.on_response(401, 'Bearer error="invalid_token"', r.session.valid_access_token())
        await r.session.on_response(403, None, r.session.valid_access_token())
        return callback, first

    callback, first = run(scenario())
    last = r.session.valid_access_token()
    run(r.manager.sign_out(ALIAS))

    assert sink.mentions("signed in") and sink.mentions("server added")
    assert any(rec.level == auth.LogLevel.INFO and rec.target.startswith("authstate") for rec in sink.records)
    assert len(sink.threads) >= 2, "records come from the caller's thread and the core's runtime"
    code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(callback).query))["code"]
    secrets_seen = secret_strings(secrets.history) | {code}
    assert {first, last} <= secrets_seen
    assert len(secrets_seen) >= 10, "3 access, 3 refresh, id token(s), verifier, state, nonce, code"
    for record in sink.records:
        for secret in secrets_seen:
            assert secret not in record.message, f"a secret leaked into {record.target}: {record.level}"


def test_k_log_sink_filters_by_level_and_clear_stops_it(sink):
    manager = auth.ServerManager.in_memory()
    auth.set_log_sink(sink, auth.LogLevel.WARN)
    manager.add_oidc_server("https://a.example", "https://id.example.com", "app", "app:/cb", alias="quiet-add")
    assert not sink.mentions("quiet-add"), "an info record is below WARN"
    with pytest.raises(auth.AuthError.InvalidInput):
        manager.drafts().save("quiet-add", "room", "x" * (manager.drafts().max_bytes() + 1))
    warned = sink.mentions("size cap")
    assert warned and all(r.level == auth.LogLevel.WARN for r in warned)
    assert all(r.level in (auth.LogLevel.ERROR, auth.LogLevel.WARN) for r in sink.records)

    auth.set_log_sink(sink, auth.LogLevel.INFO)
    manager.add_oidc_server("https://b.example", "https://id.example.com", "app", "app:/cb", alias="before-clear")
    assert sink.mentions("before-clear"), "records arrive synchronously on the calling thread"
    auth.clear_log_sink()
    manager.add_oidc_server("https://c.example", "https://id.example.com", "app", "app:/cb", alias="after-clear")
    assert not sink.mentions("after-clear")
