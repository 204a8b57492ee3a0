"""What a call across the FFI costs from Python, next to the calls an app
makes on every request: the state getters and the token getters.

Signs in to the real OpenID provider (tests/peers/oidc, access tokens living
an hour, so the token stays valid throughout), then times each call with
timeit (its best batch over 8 interleaved rounds) and prints ns/call and two
ratios for each:

- against an exported no-op of the same shape (target <= 2): a method on the
  same object, `session.noop()` / `await session.noop_async()`. Every method
  call pays the generated code's handle clone, a native call of its own, so
  this ratio is what authstate's getter adds to the FFI's price of a method;
- against the free functions `noop()` / `await noop_async()`, for reference.

The getters are timed with the reading that `import authstate` installs
(`authstate._fast_lift`) and, for comparison, with the generated module's
own reading of the returned buffer.

Run from the workspace root after `cargo xtask bindings`:

    python3 bindings/python/bench/ffi_cost.py
"""

import asyncio
import sys
import timeit
from pathlib import Path

_PYTHON = Path(__file__).resolve().parents[1]
# `cargo xtask bindings` replaces the library by renaming, so a run that has
# the old one mapped keeps it.
sys.path[:0] = [str(_PYTHON), str(_PYTHON / "generated"), str(_PYTHON / "tests")]

import authstate as auth  # noqa: E402
import oidc_peer  # noqa: E402
from authstate import _fast_lift  # noqa: E402

ALIAS = "idp"
SYNC_CALLS = 50_000
ASYNC_CALLS = 2_500
ROUNDS = 8


def signed_in(peer):
    options = auth.ManagerOptions(trusted_roots_pem=[oidc_peer.TLS_CERT_PEM])
    manager = auth.ServerManager(options)
    manager.add_oidc_server(peer.issuer, peer.issuer, oidc_peer.CLIENT_ID, oidc_peer.REDIRECT_URI, alias=ALIAS)

    async def login():
        url = await manager.begin_login(ALIAS)
        return await manager.complete_login(oidc_peer.drive_login(url))

    asyncio.run(login())
    session = manager.session(ALIAS)
    assert session.state().is_active() and session.valid_access_token()
    return manager, session


async def token_or_fresh(session):
    """The sync fast path first: no async machinery while the token is valid."""
    return session.valid_access_token() or await session.fresh_access_token()


def sync_batch(call, reading="authstate"):
    """Times one batch of SYNC_CALLS calls; returns ns per call."""

    def measure():
        return timeit.timeit(call, number=SYNC_CALLS) / SYNC_CALLS * 1e9

    if reading == "authstate":
        return measure
    return lambda: with_generated_reading(measure)


def async_batch(loop, make_call):
    """Times one batch of ASYNC_CALLS awaited calls in `loop`; returns ns per call."""

    async def calls():
        for _ in range(ASYNC_CALLS):
            await make_call()

    return lambda: timeit.timeit(lambda: loop.run_until_complete(calls()), number=1) / ASYNC_CALLS * 1e9


def with_generated_reading(measure):
    """`measure()` with the generated module's reading of returned buffers."""
    _fast_lift.uninstall()
    try:
        return measure()
    finally:
        assert _fast_lift.install()


def best_interleaved(batches):
    """Each row's best batch over ROUNDS rounds, every round timing every row
    in turn, so a change of machine load falls on all rows alike."""
    best = {name: float("inf") for name in batches}
    for _ in range(ROUNDS):
        for name, batch in batches.items():
            best[name] = min(best[name], batch())
    return best


def main():
    peer = oidc_peer.OidcPeer(access_token_ttl_secs=3600)
    loop = asyncio.new_event_loop()
    try:
        manager, session = signed_in(peer)
        token = session.valid_access_token()

        def python_noop():
            pass

        async def python_noop_async():
            pass

        rows = best_interleaved(
            {
                "python: empty function": sync_batch(python_noop),
                "noop()": sync_batch(auth.noop),
                "session.noop()": sync_batch(session.noop),
                "session.state()": sync_batch(session.state),
                "session.valid_access_token()": sync_batch(session.valid_access_token),
                "session.state(), generated reading": sync_batch(session.state, "generated"),
                "session.valid_access_token(), generated reading": sync_batch(session.valid_access_token, "generated"),
                "manager.state(alias)": sync_batch(lambda: manager.state(ALIAS)),
                "manager.connection_revision()": sync_batch(manager.connection_revision),
                "python: await empty coroutine": async_batch(loop, python_noop_async),
                "await noop_async()": async_batch(loop, auth.noop_async),
                "await session.noop_async()": async_batch(loop, session.noop_async),
                "await session.fresh_access_token()": async_batch(loop, session.fresh_access_token),
                "valid_access_token() or await fresh_...": async_batch(loop, lambda: token_or_fresh(session)),
            }
        )
        assert session.valid_access_token() == token, "the token stayed valid: no refresh was timed"
    finally:
        loop.close()
        peer.stop()

    width = max(map(len, rows))
    print(f"{'call':<{width}}  ns/call")
    for name, ns in rows.items():
        print(f"{name:<{width}}  {ns:>9.0f}")
    measured = [
        ("session.state()", "session.noop()", "noop()"),
        ("session.valid_access_token()", "session.noop()", "noop()"),
        ("session.state(), generated reading", "session.noop()", "noop()"),
        ("session.valid_access_token(), generated reading", "session.noop()", "noop()"),
        ("await session.fresh_access_token()", "await session.noop_async()", "await noop_async()"),
    ]
    print(f"\n{'call':<{width}}  {'/ same-shape no-op':>18}  {'/ free no-op':>12}")
    for name, same_shape, free in measured:
        ratio = rows[name] / rows[same_shape]
        verdict = "ok" if ratio <= 2 else "OVER the target of 2"
        print(f"{name:<{width}}  {ratio:>18.2f}  {rows[name] / rows[free]:>12.2f}  {verdict}")


if __name__ == "__main__":
    main()
