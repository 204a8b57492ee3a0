"""The host cannot break the core (DESIGN.md invariant 13), from Python: the
twins of the core's host-fault suite (crates/authstate/tests/persistence.rs
over tests/common/faulty.rs), with Python host stores that raise, return
garbage or block, and a log sink that raises, at each call site: sign-in
(password, against the real Django peer), refresh (due by a ManualClock),
probe, sign-out, and restore (a new manager over the same host stores).

After every case, with the host healthy again: no session lost, no token
lost (the stored refresh token is the server's current one, and a restart
presents it successfully), the next operation succeeds, and no call took
long (none hangs). The peer is reached through a relay (``relay.py``) that
records which refresh token the server issued last.
"""

import asyncio
import json
import shutil
import tempfile
import time

import pytest

import authstate as auth
import django_peer
import oidc_peer
from faults import RaisingSink, Faulty, store_faults
from relay import Relay
from support import FIGURES

API = "api"
TOKENS = f"authstate.tokens.{API}"
#: No operation may take longer than this (a blocked call takes 0.2 s).
STEP_LIMIT_SECS = 10
SITES = ("sign_in", "refresh", "probe", "sign_out", "restore")
CASES = [*store_faults(), ("sink", "log", "raise")]


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


@pytest.fixture(scope="module")
def relay(peer):
    running = Relay(peer.base_url)
    yield running
    running.stop()


class Device:
    """An app: a manager over two Faulty host stores, timed by a ManualClock,
    holding the peer as `api` (a simplejwt pair, or a knox device token for
    the probe) and a signed-out `spare` server. With `lock_dir`, the stores
    are shared through it, as an app and its extensions share a Keychain
    group and an App Group container: every change then re-reads them."""

    def __init__(self, relay, kind, lock_dir=None):
        self.relay, self.kind, self.lock_dir = relay, kind, lock_dir
        self.secrets, self.values = Faulty(), Faulty()
        self.clock = auth.ManualClock(int(time.time()))
        self.manager = self.open()
        if kind == "jwt":
            self.manager.add_token_pair_server(relay.server_url("jwt"), auth.simplejwt_settings("api/token/"), alias=API)
        else:
            self.manager.add_opaque_token_server(relay.server_url("knox"), auth.device_token_settings("api/v1/auth/"),
                                                 alias=API)
        self.manager.add_oidc_server("https://spare.example", "https://id.example.com", "app", "app:/cb", alias="spare")

    def open(self, clock=None):
        """Another manager over the same host stores (an app restart)."""
        options = auth.ManagerOptions(refresh_threshold_secs=5, lock_directory=self.lock_dir)
        return auth.ServerManager(options, secrets=self.secrets, values=self.values, clock=clock or self.clock)

    def heal(self):
        self.secrets.heal()
        self.values.heal()

    def stored(self, field):
        """A field of the stored tokens, read past the faults."""
        raw = self.secrets.data.get(TOKENS)
        return json.loads(raw)["tokens"].get(field) if raw else None


async def timed(make):
    """(value or raised exception, seconds); a call over the limit fails the case as a hang."""
    started = time.monotonic()
    try:
        result = make()
        if asyncio.iscoroutine(result):
            result = await asyncio.wait_for(result, STEP_LIMIT_SECS)
    except asyncio.TimeoutError:
        raise AssertionError(f"hung: no answer within {STEP_LIMIT_SECS} s") from None
    except Exception as error:  # noqa: BLE001 (judged by the caller)
        result = error
    return result, time.monotonic() - started


def sign_in(manager):
    return manager.sign_in_with_password(API, "alice", django_peer.PASSWORD, device_label="faults")


def state(manager):
    try:
        return manager.state(API)
    except auth.AuthError.UnknownServer:
        return None


async def run_case(relay, peer, site, store, op, fault, lock_dir):
    """Runs one fault case; returns (what went wrong, the operation's seconds,
    whether the fault fired: a store operation the call site never makes, or a
    clean restore that logs nothing, leaves the case vacuous)."""
    device = Device(relay, "knox" if site == "probe" else "jwt", lock_dir)
    manager = device.manager
    if site != "sign_in":
        await sign_in(manager)
    before = manager.session(API).valid_access_token()
    if site == "refresh":
        device.clock.advance_secs(301)  # the 300 s access token is due
    if lock_dir:
        # Another process (an extension) adds a server: the call under test
        # starts by re-reading the stores, through the fault.
        device.open().add_oidc_server("https://ext.example", "https://id.example.com", "app", "app:/cb", alias="ext")
    revocations = peer.counts()["jwt_blacklist"]

    if store == "sink":
        sink = RaisingSink()
        auth.set_log_sink(sink, auth.LogLevel.TRACE)
    else:
        getattr(device, store).inject(fault, [op])
    subject = manager
    try:
        if site == "sign_in":
            outcome, took = await timed(lambda: sign_in(manager))
        elif site == "refresh":
            outcome, took = await timed(lambda: manager.session(API).fresh_access_token())
        elif site == "probe":
            outcome, took = await timed(lambda: manager.session(API).probe())
        elif site == "sign_out":
            outcome, took = await timed(lambda: manager.sign_out(API))
        else:
            outcome, took = await timed(device.open)
            if not isinstance(outcome, Exception):
                subject = outcome
    finally:
        auth.clear_log_sink()
        device.heal()

    fired = auth.log_sink_failures() if store == "sink" else getattr(device, store).faults
    problems = []
    if isinstance(outcome, Exception):
        allowed = store != "sink" and isinstance(outcome, auth.AuthError.Storage)
        if not allowed:
            problems.append(f"raised {type(outcome).__name__}: {outcome}")
    if store == "sink" and auth.log_sink_failures() > 3:
        problems.append(f"the sink was called {auth.log_sink_failures()} times after failing: not removed")
    if store == "sink" and site != "restore" and not fired:
        problems.append("nothing was logged: the raising sink was never called")

    # What the call left behind, before anything else runs.
    now = state(subject)
    if site == "sign_out":
        if now != auth.SessionState.NO_SESSION():
            problems.append(f"still {now} after sign-out")
        if peer.counts()["jwt_blacklist"] != revocations + 1:
            problems.append("the server was not asked to revoke")
    elif site == "sign_in" and isinstance(outcome, Exception):
        pass  # Active (in use, pending) or still signed out: both keep every session there was
    elif site == "restore" and (now is None or now == auth.SessionState.NO_SESSION()):
        if subject is not manager and subject.restore_report().is_clean:
            problems.append(f"restored as {now} with a clean report: a silent loss")
    elif now is None or not now.is_active():
        problems.append(f"session lost: {now}")
    if site == "refresh" and not isinstance(outcome, Exception) and outcome == before:
        problems.append("the due token was handed out unrefreshed")
    if site == "probe" and not isinstance(outcome, Exception) and outcome != auth.ProbeResult.VALID:
        problems.append(f"probe said {outcome}")

    problems += await healthy_afterwards(device, subject, site)
    return problems, took, fired > 0


async def healthy_afterwards(device, subject, site):
    """With the host healthy again: pending state saved, the next operation
    works, nothing lost across a restart."""
    problems = []
    relay = device.relay
    await subject.on_resume()
    if state(subject) is None:
        subject = device.manager  # a restore that refused every record: the stores are what matters
    session = subject.session(API)
    if session.persistence_pending():
        problems.append("still pending after on_resume with a healthy store")
    if session.state() == auth.SessionState.NO_SESSION():
        if site not in ("sign_out", "sign_in", "restore"):
            problems.append("signed out")
        if device.kind == "jwt" and TOKENS in device.secrets.data and site == "sign_out":
            problems.append("tokens left in the secret store after sign-out")
        restarted = device.open(auth.ManualClock(int(time.time())))
        if site == "sign_out" and state(restarted) != auth.SessionState.NO_SESSION():
            problems.append(f"the sign-out did not survive a restart: {state(restarted)}")
        await sign_in(subject)  # the next operation: sign in again
        session = subject.session(API)
        await subject.on_resume()

    if device.kind == "jwt":
        if device.stored("refresh") != relay.current_refresh:
            problems.append("the stored refresh token is not the server's current one")
        device.clock.advance_secs(301)
        try:
            await session.fresh_access_token()  # the next operation: a real refresh
            await subject.on_resume()
        except auth.AuthError as error:
            problems.append(f"the next refresh failed: {error!r}")
        if device.stored("refresh") != relay.current_refresh:
            problems.append("after the next refresh, the stored refresh token is not the current one")
    else:
        if await session.probe() != auth.ProbeResult.VALID:
            problems.append("the next probe failed")
        if device.stored("access") != session.valid_access_token():
            problems.append("the stored token is not the one in use")

    restarted = device.open(auth.ManualClock(int(time.time())))
    if state(restarted) is None or not state(restarted).is_active():
        problems.append(f"restarted as {state(restarted)}")
    elif device.kind == "jwt":
        stored = device.stored("refresh")
        try:
            await restarted.session(API).refresh()
            if relay.presented[-1] != stored:
                problems.append("the restart presented another refresh token than the stored one")
        except auth.AuthError as error:
            problems.append(f"the restart could not refresh with the stored token: {error!r}")
    return problems


@pytest.mark.parametrize("shared", [False, True], ids=["alone", "lock_dir"])
@pytest.mark.parametrize("site", SITES)
def test_faulty_host_callbacks_never_lose_a_session_or_a_token(relay, peer, site, shared):
    failures, slowest, fired = [], 0.0, 0

    async def every_case():
        nonlocal slowest, fired
        for store, op, fault in CASES:
            lock_dir = tempfile.mkdtemp(prefix="authstate-faults-") if shared else None
            try:
                problems, took, did_fire = await run_case(relay, peer, site, store, op, fault, lock_dir)
            finally:
                if lock_dir:
                    shutil.rmtree(lock_dir, ignore_errors=True)
            slowest, fired = max(slowest, took), fired + did_fire
            failures.extend(f"{site} ({'lock dir' if shared else 'alone'}) with {store}.{op} {fault}: {p}"
                            for p in problems)

    started = time.monotonic()
    asyncio.run(every_case())
    for name, count in (("host fault cases run", len(CASES)), ("host fault cases whose fault fired", fired)):
        FIGURES[name] = FIGURES.get(name, 0) + count
    FIGURES[f"host fault cases at {site}, {'lock dir' if shared else 'alone'}"] = (
        f"{len(CASES)} ({fired} fired) in {time.monotonic() - started:.1f} s, slowest call {slowest:.2f} s")
    assert not failures, "\n".join(failures)
