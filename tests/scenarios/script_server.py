#!/usr/bin/env python3
"""A scripted token server for the scenario suite: deterministic answers,
the same for every language's runner, from the Python standard library.

The script travels in the username of the sign-in, so no runner needs an
HTTP client of its own: ``lang|exp=60;refresh=ok,503,401;probe=valid,stale``.
The part before ``|`` only keeps runners that run at once apart; the answers
depend on the rest, and a sign-in starts the script (and the token counter)
over, so every runner sees ``A1``/``R1`` first, then ``A2``/``R2``... Each
token ends in ``.u<sign-in number>``, which keeps sign-ins apart on the server;
runners print a token up to its first ``.``.

Endpoints, relative to the base URL it prints (``READY <port>``), with any
first path segment other than ``tp``, ``op`` and ``oidc`` ignored (so that
``/<alias>/`` can be each server's own base URL):

- ``tp/api/token/``           POST, simplejwt's credentials login
- ``tp/api/token/refresh/``   POST ``{"refresh": …}``: the next ``refresh=`` step
- ``tp/api/token/blacklist/`` POST: 200
- ``op/login/``               POST: a per-device token, ``{"token": …}``
- ``op/session/``             GET: the next ``probe=`` step
- ``op/logout/``              POST: 204
- ``oidc/.well-known/openid-configuration``, ``oidc/jwks``: a discovery
  document (for sign-ins that only need one to start)

Refresh steps: ``ok`` (rotate: new access and refresh token), ``keep``
(new access token only), ``503``, ``429`` (``Retry-After: 30``), ``401``
(simplejwt's "Token is blacklisted"), ``400`` ("field required": a
misconfigured endpoint), ``html`` (a 200 that is not JSON). A refresh token
other than the latest is answered 401 (rotation reuse). When the script
runs out, ``ok``. Probe steps: ``valid``, ``stale``, ``503``; then ``valid``.
A password other than ``pw`` is refused (401).
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
USERS = {}  # sign-in id -> {"n": int, "refresh": [steps], "probe": [steps], "exp": int, "latest_refresh": str}
TOKENS = {}  # token -> sign-in id
SIGN_INS = [0]


def parse(script):
    fields = dict(part.split("=", 1) for part in script.split(";") if "=" in part)
    return {
        "n": 1,
        "exp": int(fields.get("exp", "3600")),
        "refresh": [s for s in fields.get("refresh", "").split(",") if s],
        "probe": [s for s in fields.get("probe", "").split(",") if s],
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def answer(self, status, body=None, headers=()):
        data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        if body is not None and not isinstance(body, bytes):
            self.send_header("Content-Type", "application/json")
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw or b"{}")
        except ValueError:
            return {}

    def bearer(self):
        value = self.headers.get("Authorization", "")
        return value.split(" ", 1)[1] if " " in value else ""

    def route(self):
        """The path below the server's own segment (``/<alias>/tp/...`` → ``tp/...``)."""
        parts = self.path.split("?")[0].lstrip("/").split("/")
        if parts and parts[0] not in ("tp", "op", "oidc"):
            parts = parts[1:]
        return "/".join(parts)

    def do_GET(self):
        path = self.route()
        base = f"http://127.0.0.1:{self.server.server_port}/oidc"
        if path == "oidc/.well-known/openid-configuration":
            return self.answer(200, {
                "issuer": base,
                "authorization_endpoint": f"{base}/auth",
                "token_endpoint": f"{base}/token",
                "jwks_uri": f"{base}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
            })
        if path == "oidc/jwks":
            return self.answer(200, {"keys": []})
        if path == "op/session/":
            with LOCK:
                user = USERS.get(TOKENS.get(self.bearer()))
                step = user["probe"].pop(0) if user and user["probe"] else "valid"
            if user is None:
                return self.answer(401, {"detail": "Invalid token."})
            if step == "503":
                return self.answer(503, {"detail": "unavailable"})
            return self.answer(200, {"authenticated": step == "valid"})
        return self.answer(404, {"detail": "Not found."})

    def do_POST(self):
        path = self.route()
        body = self.body()
        if path in ("tp/api/token/", "op/login/"):
            if body.get("password") != "pw":
                return self.answer(401, {"detail": "No active account found with the given credentials"})
            script = str(body.get("username", "")).split("|", 1)[-1]
            with LOCK:
                SIGN_INS[0] += 1
                uid = f"u{SIGN_INS[0]}"
                user = USERS[uid] = parse(script)
                user["uid"] = uid
                user["latest_refresh"] = f"R1.{uid}"
                TOKENS[f"A1.{uid}"] = uid
                TOKENS[f"R1.{uid}"] = uid
            if path == "op/login/":
                return self.answer(200, {"token": f"A1.{uid}", "expiry": None})
            return self.answer(200, {"access": f"A1.{uid}", "refresh": f"R1.{uid}", "expires_in": user["exp"]})
        if path == "tp/api/token/refresh/":
            presented = body.get("refresh")
            if not presented:
                return self.answer(400, {"refresh": ["This field is required."]})
            with LOCK:
                uid = TOKENS.get(presented)
                user = USERS.get(uid)
                if user is None or presented != user["latest_refresh"]:
                    return self.answer(401, {"detail": "Token is blacklisted", "code": "token_not_valid"})
                step = user["refresh"].pop(0) if user["refresh"] else "ok"
                if step in ("ok", "keep"):
                    user["n"] += 1
                    n = user["n"]
                    TOKENS[f"A{n}.{uid}"] = uid
                    out = {"access": f"A{n}.{uid}", "expires_in": user["exp"]}
                    if step == "ok":
                        user["latest_refresh"] = f"R{n}.{uid}"
                        TOKENS[f"R{n}.{uid}"] = uid
                        out["refresh"] = f"R{n}.{uid}"
                    return self.answer(200, out)
            if step == "503":
                return self.answer(503, {"detail": "unavailable"})
            if step == "429":
                return self.answer(429, {"detail": "slow down"}, [("Retry-After", "30")])
            if step == "401":
                return self.answer(401, {"detail": "Token is blacklisted", "code": "token_not_valid"})
            if step == "400":
                return self.answer(400, {"refresh_token": ["This field is required."]})
            if step == "html":
                return self.answer(200, b"<html>maintenance</html>")
            return self.answer(500, {"detail": f"unknown step {step}"})
        if path == "tp/api/token/blacklist/":
            return self.answer(200, {})
        if path == "op/logout/":
            return self.answer(204)
        return self.answer(404, {"detail": "Not found."})


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print(f"READY {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
