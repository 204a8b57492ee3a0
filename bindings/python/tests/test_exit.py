"""A process that awaited authstate calls exits cleanly.

On CPython < 3.14 the generated async glue can abort the interpreter at exit
("FATAL: exception not rethrown", SIGABRT) when the library thread that woke
the last await is still inside its callback. The window is widest when the
CPU is contended (half the runs on a loaded 2-core machine, about 1 in 50
here without load), so the script runs many times at once; the `authstate`
package's exit guard must make every run exit 0.
"""

import subprocess
import sys
from pathlib import Path

_PYTHON = Path(__file__).resolve().parents[1]

_SCRIPT = """
import asyncio, sys
sys.path[:0] = [{package!r}, {generated!r}]
import authstate
m = authstate.ServerManager.in_memory()
m.add_oidc_server("https://chat.example", "https://idp.example", "app", "app:/cb", "chat", [])
s = m.session("chat")
async def main():
    try:
        await s.refresh()  # woken from a library thread: signed out
    except authstate.AuthError.SignInRequired:
        pass
asyncio.run(main())
"""

AT_ONCE = 24
ROUNDS = 2


def test_exit_after_async_calls_never_aborts():
    script = _SCRIPT.format(package=str(_PYTHON), generated=str(_PYTHON / "generated"))
    codes = []
    for _ in range(ROUNDS):
        runs = [
            subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(AT_ONCE)
        ]
        codes += [run.wait() for run in runs]
    assert codes == [0] * len(codes), f"exit codes: {codes}"
