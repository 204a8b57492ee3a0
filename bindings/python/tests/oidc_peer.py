"""The real OpenID provider (tests/peers/oidc/server.mjs, oidc-provider on Node)
for the Python tests and the benchmark, started exactly as the Rust harness
does (crates/authstate/tests/common/oidc_peer/mod.rs), and the browser half of
a login played over HTTP with a cookie jar (its browser.rs), stdlib only.
"""

import collections
import http.cookiejar
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
PEER_DIR = REPO / "tests" / "peers" / "oidc"
TLS_CERT = PEER_DIR / "tls" / "cert.pem"
TLS_KEY = PEER_DIR / "tls" / "key.pem"
TLS_CERT_PEM = TLS_CERT.read_text()

#: The one client the provider knows: native, public, PKCE S256 required.
CLIENT_ID = "authstate-test"
#: The registered redirect URI (any port may be added to it, RFC 8252).
REDIRECT_URI = "http://127.0.0.1/callback"
#: With this set to 1, a missing node or node_modules fails instead of skipping.
REQUIRE_PEERS_VAR = "AUTHSTATE_REQUIRE_PEERS"

READY_TIMEOUT_SECS = 60
MAX_BROWSER_HOPS = 16


class PeerUnavailable(Exception):
    """node or the provider's node_modules is missing."""


def missing_tools():
    """Why the provider cannot run here, or None when it can."""
    if shutil.which("node") is None:
        return "node not found on PATH"
    modules = PEER_DIR / "node_modules"
    if not (modules / ".package-lock.json").is_file() or not (modules / "oidc-provider" / "package.json").is_file():
        return f"{modules} is missing or incomplete (run `npm ci` in {PEER_DIR})"
    return None


def peers_required():
    return os.environ.get(REQUIRE_PEERS_VAR) == "1"


def tls_context():
    """An SSL context trusting only the provider's self-signed certificate."""
    return ssl.create_default_context(cafile=str(TLS_CERT))


def _die_with_parent():
    """In the child before exec (Linux): SIGKILL it when the test process dies,
    so a crashed run leaves no provider behind."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OidcPeer:
    """A running oidc-provider on a free port of 127.0.0.1 over TLS."""

    def __init__(self, access_token_ttl_secs=60):
        why = missing_tools()
        if why:
            raise PeerUnavailable(why)
        self.port = _free_port()
        self.state_dir = tempfile.mkdtemp(prefix="authstate-oidc-py-")
        self.log = collections.deque(maxlen=2000)
        self._ready = threading.Event()
        self._ended = threading.Event()
        env = dict(
            os.environ,
            PORT=str(self.port),
            TLS_CERT=str(TLS_CERT),
            TLS_KEY=str(TLS_KEY),
            STATE_DIR=self.state_dir,
            ACCESS_TOKEN_TTL=str(access_token_ttl_secs),
            REDIRECT_URIS="",
        )
        self.process = subprocess.Popen(
            ["node", "server.mjs"],
            cwd=PEER_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        threading.Thread(target=self._watch_stdout, daemon=True).start()
        threading.Thread(target=self._collect_stderr, daemon=True).start()
        if not self._ready.wait(READY_TIMEOUT_SECS) or not self._ready_seen:
            why = "it exited before printing READY" if self._ended.is_set() else "no READY line in time"
            self.stop()
            raise RuntimeError(f"oidc peer on port {self.port} failed to start: {why}\n{self.stderr()}")
        self._http = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=tls_context())
        )

    _ready_seen = False

    def _watch_stdout(self):
        expected = f"READY {self.port}"
        for line in self.process.stdout:
            if line.strip() == expected:
                self._ready_seen = True
                self._ready.set()
        self._ended.set()
        self._ready.set()  # wake the waiter: the process ended

    def _collect_stderr(self):
        for line in self.process.stderr:
            self.log.append(line.rstrip("\n"))

    def stderr(self):
        return "\n".join(self.log)

    @property
    def issuer(self):
        """https://127.0.0.1:<port>: the issuer and the server's base URL."""
        return f"https://127.0.0.1:{self.port}"

    def counts(self):
        """Requests received since start or reset: {"token": n, "revocation": n, "userinfo": n}."""
        with self._http.open(f"{self.issuer}/__test/counts", timeout=15) as response:
            return json.load(response)

    def reset_counts(self):
        request = urllib.request.Request(f"{self.issuer}/__test/reset", method="POST", data=b"")
        with self._http.open(request, timeout=15) as response:
            assert response.status == 204

    def userinfo_status(self, access_token):
        """The status of GET userinfo with this bearer token."""
        request = urllib.request.Request(
            f"{self.issuer}/me", headers={"Authorization": f"Bearer {access_token}"}
        )
        try:
            with self._http.open(request, timeout=15) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    def stop(self):
        """Kills the provider (SIGKILL) and deletes its state."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        shutil.rmtree(self.state_dir, ignore_errors=True)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a 3xx surfaces as HTTPError: the driver follows it itself


def _same_endpoint(a, b):
    return (a.scheme, a.hostname, a.port or _default_port(a), a.path) == (
        b.scheme,
        b.hostname,
        b.port or _default_port(b),
        b.path,
    )


def _default_port(url):
    return {"http": 80, "https": 443}.get(url.scheme)


def drive_login(auth_url, login="alice", deny=False):
    """Plays the browser: follows the provider's redirects from ``auth_url``,
    signs in as ``login`` and consents (or, with ``deny``, aborts at the first
    interaction), and returns the callback URL it was sent to. The callback is
    recognised by the ``redirect_uri`` in ``auth_url`` and not requested."""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(auth_url).query)
    callback = urllib.parse.urlsplit(query["redirect_uri"][0])
    browser = urllib.request.build_opener(
        urllib.request.ProxyHandler({}),
        urllib.request.HTTPSHandler(context=tls_context()),
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
        _NoRedirect(),
    )

    url, form = auth_url, None
    for _ in range(MAX_BROWSER_HOPS):
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        form = None
        try:
            with browser.open(urllib.request.Request(url, data=data), timeout=15) as response:
                raise AssertionError(f"login stopped at {url}: HTTP {response.status}\n{response.read()!r}")
        except urllib.error.HTTPError as redirect:
            location = redirect.headers.get("Location")
            if redirect.code // 100 != 3 or not location:
                raise AssertionError(f"login stopped at {url}: HTTP {redirect.code}\n{redirect.read()!r}")
        target = urllib.parse.urljoin(url, location)
        parts = urllib.parse.urlsplit(target)
        if _same_endpoint(parts, callback):
            return target
        if not parts.path.startswith("/interaction/"):
            url = target
            continue
        if deny:
            url = urllib.parse.urlunsplit(parts._replace(path=parts.path + "/abort"))
            continue
        with browser.open(target, timeout=15) as page:
            html = page.read().decode()
        if 'name="prompt" value="login"' in html:
            form = [("prompt", "login"), ("login", login), ("password", "x")]
        elif 'name="prompt" value="consent"' in html:
            form = [("prompt", "consent")]
        else:
            raise AssertionError(f"unknown interaction at {target}:\n{html}")
        url = target
    raise AssertionError(f"no redirect to the callback after {MAX_BROWSER_HOPS} hops (last: {url})")
