"""Several processes, one set of sessions (DESIGN.md invariant 14, issue
#14), through the Python binding: real processes (``process_worker.py``)
sharing one directory, which is also their lock directory.

- Eight processes, fifty rounds each, at once: every round adds a server,
  signs in to it (password sign-in at the real Django peer: the FFI has no
  offline sign-in, and a real sign-in is what writes the secrets file the
  processes share), saves a draft, takes the previous round's draft (so
  the live drafts stay under the store's cap of 200) and, every other round,
  signs out of the previous round's server. A reference model of what each
  process wrote is compared with what a fresh manager reads afterwards:
  nothing lost, nothing failed.
- A sign-out in one process: the other hands out no token at its next read,
  and its observer (``states()``, no callback) sees `NoSession` at its next
  wake-up, within a follower period of a quarter of a second.

``AUTHSTATE_PROCESSES`` and ``AUTHSTATE_PROCESS_ROUNDS`` change the scale.
"""

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import authstate as auth
import django_peer
import oidc_peer
from relay import Relay
from support import FIGURES, run

WORKER = Path(__file__).with_name("process_worker.py")
PYTHON_DIR = Path(__file__).resolve().parents[1]
PROCESSES = int(os.environ.get("AUTHSTATE_PROCESSES", "8"))
ROUNDS = int(os.environ.get("AUTHSTATE_PROCESS_ROUNDS", "50"))


@pytest.fixture(scope="module")
def relay():
    try:
        peer = django_peer.DjangoPeer(access_ttl_secs=3600)
    except oidc_peer.PeerUnavailable as why:
        if oidc_peer.peers_required():
            pytest.fail(f"the Django peer is required ({oidc_peer.REQUIRE_PEERS_VAR}=1) but {why}")
        pytest.skip(f"Django peer unavailable: {why}")
    running = Relay(peer.base_url)
    yield running
    running.stop()
    peer.stop()


def worker_env():
    paths = [str(PYTHON_DIR), str(PYTHON_DIR / "generated"), os.environ.get("PYTHONPATH", "")]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in paths if p))


def start(*args):
    return subprocess.Popen([sys.executable, str(WORKER), *map(str, args)], stdout=subprocess.PIPE,
                            env=worker_env(), text=True)


def result(process, timeout=300):
    out, _ = process.communicate(timeout=timeout)
    answer = json.loads(out.strip().splitlines()[-1])
    assert "crash" not in answer, answer["crash"]
    return answer


def shared(directory):
    return auth.ServerManager(auth.ManagerOptions(directory=str(directory), refresh_threshold_secs=5))


def test_eight_processes_at_once_lose_no_write(relay, tmp_path):
    started = time.monotonic()
    workers = [start("rounds", tmp_path, relay.base_url, w, ROUNDS) for w in range(PROCESSES)]
    results = [result(w) for w in workers]
    took = time.monotonic() - started

    failed = [f for r in results for f in r["failures"]]
    pending = [a for r in results for a in r["pending"]]
    reader = shared(tmp_path)
    drafts = reader.drafts()
    present = {s.alias for s in reader.servers()}
    lost = []
    for r in results:
        for alias, wrote in r["model"].items():
            if alias not in present:
                lost.append(f"{alias}: server missing")
                continue
            session = reader.session(alias)
            if wrote["token"] is None and session.state() != auth.SessionState.NO_SESSION():
                lost.append(f"{alias}: the sign-out was lost ({session.state()})")
            if wrote["token"] is not None and session.valid_access_token() != wrote["token"]:
                lost.append(f"{alias}: the sign-in was lost ({session.state()})")
            if drafts.peek(alias, "room") != wrote["draft"]:
                lost.append(f"{alias}: the draft was lost")
    # Per round: add, sign in, save a draft; take the previous draft; every
    # other round a sign-out.
    writes = sum(len(r["model"]) for r in results) * 4 - len(results) + sum(
        1 for r in results for m in r["model"].values() if m["token"] is None)
    FIGURES["processes x rounds"] = f"{PROCESSES} x {ROUNDS}: {writes} writes in {took:.1f} s, " \
        f"{len(lost)} lost, {len(failed)} failed, {len(pending)} left pending; slowest process " \
        f"{max(r['secs'] for r in results):.1f} s"
    assert not failed, "\n".join(failed[:20])
    assert not lost, "\n".join(lost[:20])
    assert not pending, pending
    assert len(present) == PROCESSES * ROUNDS
    assert reader.restore_report().is_clean, reader.restore_report()


def test_a_sign_out_in_one_process_reaches_the_other_at_its_next_read_and_its_observer(relay, tmp_path):
    for alias in ("read", "watched"):
        result(start("sign_in", tmp_path, relay.base_url, alias), timeout=60)
    b = shared(tmp_path)
    read, watched = b.session("read"), b.session("watched")
    assert read.valid_access_token() and watched.state().is_active(), "b reads what a signed in"

    # The next read after another process's sign-out hands out nothing.
    result(start("sign_out", tmp_path, "read"), timeout=60)
    assert read.valid_access_token() is None
    with pytest.raises(auth.AuthError.SignInRequired):
        run(read.fresh_access_token())

    # An observer sees it with no call at all: the manager follows the change counter.
    async def observe():
        seen = []

        async def watch():
            async for state in auth.states(b, "watched"):
                seen.append((state, time.time()))
                if state == auth.SessionState.NO_SESSION():
                    return

        task = asyncio.create_task(watch())
        await asyncio.sleep(0.5)
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(WORKER), "sign_out_locally", str(tmp_path), "watched", stdout=asyncio.subprocess.PIPE,
            env=worker_env())
        out, _ = await process.communicate()
        signed_out_at = json.loads(out.decode().strip().splitlines()[-1])["done_at"]
        await asyncio.wait_for(task, 10)
        return seen, signed_out_at

    seen, signed_out_at = run(observe())
    assert seen[0][0].is_active()
    assert [state for state, _ in seen[1:]] == [auth.SessionState.NO_SESSION()], "one wake-up, NoSession"
    latency = seen[-1][1] - signed_out_at
    FIGURES["sign-out seen by another process's observer after"] = f"{latency * 1000:.0f} ms (follower period 250 ms)"
    assert latency < 1.0, f"{latency:.3f} s"
    assert watched.valid_access_token() is None
