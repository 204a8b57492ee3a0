"""A local HTTP relay in front of a test peer, stdlib only, wiremock-style:
it forwards every request, can answer 503 instead (a server that is down),
counts what it saw, and records the refresh tokens that crossed it, so a
test knows which refresh token is the server's current one.

A first path segment ``/s-<name>/`` is dropped before forwarding, so many
servers (distinct base URLs to the client) can share one peer.
"""

import http.server
import json
import re
import threading
import urllib.error
import urllib.request

_PREFIX = re.compile(r"^/s-[A-Za-z0-9_.-]+(/.*)$")
_FORWARDED = ("Content-Type", "Authorization", "Accept")
_RETURNED = ("Content-Type", "WWW-Authenticate", "Retry-After", "Location")


class Relay:
    """Serves on 127.0.0.1 (a free port) in a daemon thread until ``stop()``.

    ``down``: answer every request 503 (nothing reaches the peer).
    ``seen``: (method, path) of every request, in order, whatever the answer.
    ``issued`` / ``presented``: refresh tokens the peer issued (token
    responses) and the client presented (refresh and blacklist requests).
    """

    def __init__(self, upstream):
        self.upstream = upstream.rstrip("/")
        self.down = False
        self.seen = []
        self.issued = []
        self.presented = []
        self._lock = threading.Lock()
        relay = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                relay._handle(self)

            def do_POST(self):
                relay._handle(self)

            def do_DELETE(self):
                relay._handle(self)

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="relay", daemon=True)
        self._thread.start()

    def server_url(self, name):
        """A distinct base URL for server ``name`` that reaches the same peer."""
        return f"{self.base_url}/s-{name}/"

    def count(self, fragment):
        """Requests whose path contains ``fragment``."""
        with self._lock:
            return sum(1 for _, path in self.seen if fragment in path)

    @property
    def current_refresh(self):
        """The refresh token the peer issued last (its current one)."""
        with self._lock:
            return self.issued[-1] if self.issued else None

    def _handle(self, request):
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        path = request.path
        match = _PREFIX.match(path)
        if match:
            path = match.group(1)
        with self._lock:
            self.seen.append((request.command, path))
        if self.down:
            self._answer(request, 503, {"Content-Type": "application/json"}, b'{"detail":"down for maintenance"}')
            return
        self._note(path, body, self.presented)
        forward = urllib.request.Request(
            self.upstream + path, data=body if request.command != "GET" else None, method=request.command,
            headers={k: request.headers[k] for k in _FORWARDED if request.headers.get(k)},
        )
        try:
            with urllib.request.urlopen(forward, timeout=30) as response:
                status, headers, answer = response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            status, headers, answer = error.code, error.headers, error.read()
        except OSError as error:
            self._answer(request, 502, {"Content-Type": "text/plain"}, str(error).encode())
            return
        if 200 <= status < 300:
            self._note(path, answer, self.issued)
        self._answer(request, status, {k: headers[k] for k in _RETURNED if headers.get(k)}, answer)

    def _note(self, path, raw, into):
        if "api/token/" not in path or not raw:
            return
        try:
            refresh = json.loads(raw).get("refresh")
        except (ValueError, AttributeError):
            return
        if isinstance(refresh, str):
            with self._lock:
                into.append(refresh)

    @staticmethod
    def _answer(request, status, headers, body):
        request.send_response(status)
        for name, value in headers.items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
