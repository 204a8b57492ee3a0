"""One app process for tests/test_processes.py: a manager over the shared
directory (``ServerManager(ManagerOptions(directory=...))``, whose lock
directory it is), doing what it is told, printing one JSON line of what it
did.

    python process_worker.py rounds  DIR URL WORKER ROUNDS
    python process_worker.py sign_in DIR URL ALIAS
    python process_worker.py sign_out DIR ALIAS
    python process_worker.py sign_out_locally DIR ALIAS
"""

import asyncio
import json
import sys
import time
import traceback

import authstate as auth

PASSWORD = "correct horse"  # django_peer.PASSWORD, without importing the harness


def open_manager(directory):
    return auth.ServerManager(auth.ManagerOptions(directory=directory, refresh_threshold_secs=5))


def add(manager, url, alias):
    manager.add_token_pair_server(f"{url}/s-{alias}/", auth.simplejwt_settings("api/token/"), alias=alias)


async def rounds(directory, url, worker, count):
    """Each round adds a server, signs in to it, saves a draft for it, takes
    the previous round's draft, and every other round signs out of the
    previous round's server: distinct servers per worker
    and round, so the reference model is exact. Every failure is recorded."""
    manager = open_manager(directory)
    model, failures = {}, []
    started = time.monotonic()
    for r in range(count):
        alias = f"w{worker}r{r}"
        try:
            add(manager, url, alias)
            model[alias] = {"token": None, "draft": None}
            await manager.sign_in_with_password(alias, "alice", PASSWORD)
            # Not valid_access_token(): that fast path hands out nothing once
            # another process changed the stores (here, all the time) until a
            # call that may read them, as fresh_access_token() does.
            model[alias]["token"] = await manager.session(alias).fresh_access_token()
            text = f"draft of {alias}: {'x' * (r % 7)}"
            manager.drafts().save(alias, "room", text)
            model[alias]["draft"] = text
            if r > 0:
                # The user sent the previous round's message: its draft is
                # taken, so the live drafts stay under the store's count cap.
                previous = f"w{worker}r{r - 1}"
                taken = manager.drafts().take(previous, "room")
                if taken != model[previous]["draft"]:
                    failures.append(f"{previous}: took {taken!r}, saved {model[previous]['draft']!r}")
                model[previous]["draft"] = None
            if r % 2 == 1:
                previous = f"w{worker}r{r - 1}"
                await manager.sign_out(previous)
                model[previous]["token"] = None
        except Exception as error:  # noqa: BLE001 (reported, judged by the test)
            failures.append(f"{alias}: {error!r}")
    pending = [alias for alias in model if manager.session(alias).persistence_pending()]
    return {"model": model, "failures": failures, "pending": pending, "secs": time.monotonic() - started}


async def sign_in(directory, url, alias):
    manager = open_manager(directory)
    add(manager, url, alias)
    await manager.sign_in_with_password(alias, "alice", PASSWORD)
    return {"token": await manager.session(alias).fresh_access_token()}


async def sign_out(directory, alias):
    manager = open_manager(directory)
    outcome = await manager.sign_out(alias)
    return {"outcome": str(outcome), "done_at": time.time()}


def sign_out_locally(directory, alias):
    open_manager(directory).session(alias).sign_out_locally()
    return {"done_at": time.time()}


def main(argv):
    command, directory, *rest = argv
    try:
        if command == "rounds":
            result = asyncio.run(rounds(directory, rest[0], int(rest[1]), int(rest[2])))
        elif command == "sign_in":
            result = asyncio.run(sign_in(directory, *rest))
        elif command == "sign_out":
            result = asyncio.run(sign_out(directory, *rest))
        elif command == "sign_out_locally":
            result = sign_out_locally(directory, *rest)
        else:
            raise SystemExit(f"unknown command {command}")
    except Exception:  # noqa: BLE001
        result = {"crash": traceback.format_exc()}
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
