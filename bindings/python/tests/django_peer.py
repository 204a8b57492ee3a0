"""The Django REST framework test server (tests/peers/django/serve.py:
simplejwt pairs and knox per-device tokens) for the Python tests, started as
the Rust harness does (crates/authstate/tests/common/django_peer/), stdlib only.
"""

import json
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from oidc_peer import PeerUnavailable, _die_with_parent

REPO = Path(__file__).resolve().parents[3]
SERVE = REPO / "tests" / "peers" / "django" / "serve.py"
READY_TIMEOUT_SECS = 60
PASSWORD = "correct horse"


def missing_packages():
    """Why the server cannot run here, or None when it can."""
    probe = subprocess.run(
        [sys.executable, "-c", "import django, rest_framework, rest_framework_simplejwt, knox"],
        capture_output=True,
    )
    if probe.returncode != 0:
        return "the Django peer's packages are missing (pip install -r tests/peers/django/requirements.txt)"
    return None


class DjangoPeer:
    """A running server on a free port of 127.0.0.1, with users `alice` and
    `bob` (password PASSWORD). `stop()` kills it."""

    def __init__(self, access_ttl_secs=300):
        why = missing_packages()
        if why:
            raise PeerUnavailable(why)
        self._state = tempfile.TemporaryDirectory(prefix="authstate-django-py-")
        env = dict(os.environ, AUTHSTATE_DJANGO_STATE_DIR=self._state.name,
                   AUTHSTATE_DJANGO_ACCESS_TTL_SECS=str(access_ttl_secs))
        self._process = subprocess.Popen(
            [sys.executable, str(SERVE), "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env=env, text=True, preexec_fn=_die_with_parent,
        )
        line = self._process.stdout.readline().strip()
        if not line.startswith("READY "):
            self.stop()
            raise RuntimeError(f"the Django peer did not start: {line!r}")
        self.base_url = f"http://127.0.0.1:{int(line.split()[1])}"
        for user in ("alice", "bob"):
            self.post("__test/users/", {"username": user, "password": PASSWORD})

    def url(self, path):
        return f"{self.base_url}/{path}"

    def post(self, path, body, headers=None):
        """POSTs JSON; (status, parsed body or None)."""
        request = urllib.request.Request(self.url(path), data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json", **(headers or {})})
        return self._send(request)

    def get(self, path, headers=None):
        return self._send(urllib.request.Request(self.url(path), headers=headers or {}))

    def counts(self):
        return self.get("__test/counts")[1]

    @staticmethod
    def _send(request):
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as error:
            raw = error.read()
            return error.code, json.loads(raw) if raw else None

    def stop(self):
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        self._state.cleanup()
