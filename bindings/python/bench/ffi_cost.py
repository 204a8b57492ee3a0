"""What a call across the FFI costs from Python, next to the calls an app
makes on every request: the state getters and the token getters.

Signs in to the real OpenID provider (tests/peers/oidc, access tokens living
an hour, so the token stays valid throughout), then times each call with
timeit (best of several repeats) and prints ns/call and two ratios for each:

- against an exported no-op of the same shape (target <= 2): a method on the
  same object, `session.noop()` / `await session.noop_async()`. Every method
  call pays the generated code's handle clone, a native call of its own, so
  this ratio is what authstate's getter adds to the FFI's price of a method;
- against the free functions `noop()` / `await noop_async()`, for reference.

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

ALIAS = "idp"
SYNC_CALLS = 100_000
ASYNC_CALLS = 5_000
REPEATS = 5


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


def best_ns(stmt, number):
    """The best per-call time of `stmt` over REPEATS runs of `number` calls."""
    return min(timeit.repeat(stmt, number=number, repeat=REPEATS)) / number * 1e9


def best_async_ns(make_call, number):
    """The best per-call time of awaiting `make_call()` in a running loop."""
    loop = asyncio.new_event_loop()

    async def calls():
        for _ in range(number):
            await make_call()

    try:
        return min(timeit.repeat(lambda: loop.run_until_complete(calls()), number=1, repeat=REPEATS)) / number * 1e9
    finally:
        loop.close()


def main():
    peer = oidc_peer.OidcPeer(access_token_ttl_secs=3600)
    try:
        manager, session = signed_in(peer)
        token = session.valid_access_token()

        def python_noop():
            pass

        async def python_noop_async():
            pass

        rows = {
            "python: empty function": best_ns(python_noop, SYNC_CALLS),
            "noop()": best_ns(auth.noop, SYNC_CALLS),
            "session.noop()": best_ns(session.noop, SYNC_CALLS),
            "session.state()": best_ns(session.state, SYNC_CALLS),
            "session.valid_access_token()": best_ns(session.valid_access_token, SYNC_CALLS),
            "manager.state(alias)": best_ns(lambda: manager.state(ALIAS), SYNC_CALLS),
            "manager.connection_revision()": best_ns(manager.connection_revision, SYNC_CALLS),
            "python: await empty coroutine": best_async_ns(python_noop_async, ASYNC_CALLS),
            "await noop_async()": best_async_ns(auth.noop_async, ASYNC_CALLS),
            "await session.noop_async()": best_async_ns(session.noop_async, ASYNC_CALLS),
            "await session.fresh_access_token()": best_async_ns(
                lambda: session.fresh_access_token(), ASYNC_CALLS
            ),
            "valid_access_token() or await fresh_...": best_async_ns(lambda: token_or_fresh(session), ASYNC_CALLS),
        }
        assert session.valid_access_token() == token, "the token stayed valid: no refresh was timed"
    finally:
        peer.stop()

    width = max(map(len, rows))
    print(f"{'call':<{width}}  ns/call")
    for name, ns in rows.items():
        print(f"{name:<{width}}  {ns:>9.0f}")
    measured = [
        ("session.state()", "session.noop()", "noop()"),
        ("session.valid_access_token()", "session.noop()", "noop()"),
        ("await session.fresh_access_token()", "await session.noop_async()", "await noop_async()"),
    ]
    print(f"\n{'call':<{width}}  {'/ same-shape no-op':>18}  {'/ free no-op':>12}")
    for name, same_shape, free in measured:
        ratio = rows[name] / rows[same_shape]
        verdict = "ok" if ratio <= 2 else "OVER the target of 2"
        print(f"{name:<{width}}  {ratio:>18.2f}  {rows[name] / rows[free]:>12.2f}  {verdict}")


if __name__ == "__main__":
    main()
