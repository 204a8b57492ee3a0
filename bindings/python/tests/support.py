"""Helpers shared by the tests: a manager wired to the real provider, and a
runner for coroutines."""

import asyncio
import time

import authstate as auth
import oidc_peer

ALIAS = "idp"

#: Measured figures the tests report at the end of the run (see conftest's
#: ``pytest_terminal_summary``): name -> value.
FIGURES = {}


class Rig:
    """A manager with one server, the provider (alias `idp`), signed out; its
    clock is a ManualClock started at the real current time."""

    def __init__(self, peer, secrets=None, values=None, threshold=5):
        self.peer = peer
        self.clock = auth.ManualClock(int(time.time()))
        self.secrets, self.values = secrets, values
        self.manager = self.open_manager(threshold)
        self.info = self.manager.add_oidc_server(
            peer.issuer, peer.issuer, oidc_peer.CLIENT_ID, oidc_peer.REDIRECT_URI, alias=ALIAS, scopes=["profile"]
        )
        self.session = self.manager.session(ALIAS)

    def open_manager(self, threshold=5):
        options = auth.ManagerOptions(
            directory=None,
            trusted_roots_pem=[oidc_peer.TLS_CERT_PEM],
            refresh_threshold_secs=threshold,
            request_timeout_secs=None,
        )
        return auth.ServerManager(options, secrets=self.secrets, values=self.values, clock=self.clock)

    async def login(self, return_to=None):
        """A full browser login as alice; the LoginResult."""
        url = await self.manager.begin_login(ALIAS, return_to)
        callback = await asyncio.to_thread(oidc_peer.drive_login, url)
        return await self.manager.complete_login(callback)


def run(coro, timeout=60):
    """Runs a coroutine to completion; the timeout only turns a hang into a failure."""
    return asyncio.run(asyncio.wait_for(coro, timeout))
