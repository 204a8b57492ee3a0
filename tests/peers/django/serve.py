#!/usr/bin/env python3
"""Runs the Django REST framework test peer on 127.0.0.1.

    AUTHSTATE_DJANGO_STATE_DIR=/tmp/peer python3 serve.py --port 0

Migrates the SQLite database in the state directory (a fresh temp dir when
unset), then serves with one thread per connection. Prints `READY <port>`
on stdout once it accepts connections; requests are logged to stderr.
See README.md for the endpoints and the other environment variables.
"""

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path


class _Backlog:
    """Room for a few hundred connections arriving at once (Django's default is 10)."""

    request_queue_size = 1024


def exit_with_parent():
    """Exits when the process that started this one goes away (a test run
    that was killed or crashed), so no server outlives its tests."""
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1; 0 picks a free one")
    args = parser.parse_args()
    exit_with_parent()

    here = Path(__file__).resolve().parent
    sys.path.insert(0, str(here))
    os.environ["DJANGO_SETTINGS_MODULE"] = "peer.settings"
    if not os.environ.get("AUTHSTATE_DJANGO_STATE_DIR"):
        os.environ["AUTHSTATE_DJANGO_STATE_DIR"] = tempfile.mkdtemp(prefix="authstate-django-")
    print(f"state dir: {os.environ['AUTHSTATE_DJANGO_STATE_DIR']}", file=sys.stderr, flush=True)

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)

    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
    from django.core.wsgi import get_wsgi_application

    server_cls = type("Server", (_Backlog, ThreadedWSGIServer), {})
    httpd = server_cls(("127.0.0.1", args.port), WSGIRequestHandler)
    httpd.set_app(get_wsgi_application())
    print(f"READY {httpd.server_port}", flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
