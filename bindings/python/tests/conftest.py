"""Shared fixtures: the import path for the `authstate` package, the real
OpenID provider (one per test session) and managers wired to it."""

import sys
from pathlib import Path

import pytest

_PYTHON = Path(__file__).resolve().parents[1]
for _path in (_PYTHON, _PYTHON / "generated"):  # `cargo xtask test` sets only generated/
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import oidc_peer  # noqa: E402
from support import FIGURES, Rig  # noqa: E402


@pytest.fixture(scope="session")
def peer():
    """The real provider (access tokens live 60 s), or a skip when node or its
    node_modules is missing; with AUTHSTATE_REQUIRE_PEERS=1 that is a failure."""
    try:
        running = oidc_peer.OidcPeer(access_token_ttl_secs=60)
    except oidc_peer.PeerUnavailable as why:
        if oidc_peer.peers_required():
            pytest.fail(f"the oidc peer is required ({oidc_peer.REQUIRE_PEERS_VAR}=1) but {why}")
        pytest.skip(f"oidc peer unavailable: {why}")
    yield running
    running.stop()


@pytest.fixture
def rig(peer):
    """A factory of Rigs over the session's provider."""
    return lambda **kwargs: Rig(peer, **kwargs)


def pytest_terminal_summary(terminalreporter):
    """Prints what the tests measured (fault cases run, processes, timings)."""
    if FIGURES:
        terminalreporter.section("authstate figures")
        for name, value in FIGURES.items():
            terminalreporter.write_line(f"{name}: {value}")
