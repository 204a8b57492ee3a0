"""Requests counted per endpoint since start, for the tests (`__test/counts`).

The middleware counts by URL name after routing, so unknown paths count for
nothing; failed requests count like successful ones.
"""

import threading

# URL name (see urls.py) -> counter name.
COUNTED = {
    "jwt_login": "jwt_login",
    "jwt_refresh": "jwt_refresh",
    "jwt_refresh_bearer": "jwt_refresh",
    "jwt_refresh_query": "jwt_refresh",
    "jwt_blacklist": "jwt_blacklist",
    "jwt_me": "me",
    "knox_login": "knox_login",
    "knox_probe": "probe",
    "knox_logout": "logout",
    "knox_logoutall": "logoutall",
    "knox_sessions": "sessions",
    "knox_session_revoke": "sessions",
    "knox_password": "password",
    "knox_me": "me",
}
NAMES = sorted(set(COUNTED.values()))

_lock = threading.Lock()
_counts = dict.fromkeys(NAMES, 0)


def snapshot():
    with _lock:
        return dict(_counts)


def reset():
    with _lock:
        for name in _counts:
            _counts[name] = 0


class CountRequests:
    """Middleware: one count per routed request to a counted endpoint."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        name = COUNTED.get(request.resolver_match.url_name)
        if name is not None:
            with _lock:
                _counts[name] += 1
        return None
