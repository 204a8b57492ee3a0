"""Settings of the test peer. For tests only: fixed secret key, MD5 hashing.

Environment:
  AUTHSTATE_DJANGO_STATE_DIR         where db.sqlite3 lives (default: this directory)
  AUTHSTATE_DJANGO_ACCESS_TTL_SECS   simplejwt access token lifetime (default 300)
  AUTHSTATE_DJANGO_REFRESH_TTL_SECS  simplejwt refresh token lifetime (default 86400)
  AUTHSTATE_DJANGO_KNOX_TTL_SECS     knox token lifetime (default 86400)
"""

import os
from datetime import timedelta
from pathlib import Path


def _secs(name, default):
    return timedelta(seconds=int(os.environ.get(name, default)))


STATE_DIR = Path(os.environ.get("AUTHSTATE_DJANGO_STATE_DIR", Path(__file__).resolve().parent.parent))

# A fixed key so that JWTs signed before a restart still verify after it.
SECRET_KEY = "authstate-test-peer-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "peer.urls"
USE_TZ = True
TIME_ZONE = "UTC"  # timestamps on the wire end in Z
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "knox",
    "peer",
]

# CommonMiddleware sets Content-Length, without which the server closes every
# connection after one response (it also redirects a path lacking its slash).
MIDDLEWARE = ["django.middleware.common.CommonMiddleware", "peer.counters.CountRequests"]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": STATE_DIR / "db.sqlite3",
        "OPTIONS": {
            # Many threads write at once: wait for the lock instead of failing,
            # and take it when a transaction begins (a deferred transaction that
            # later writes can fail at once, without waiting).
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }
}

# Tests only: MD5 makes a login cost microseconds instead of PBKDF2's ~0.45 s.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
AUTH_PASSWORD_VALIDATORS = []

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser", "rest_framework.parsers.FormParser"],
    # Each view names its own authentication; these are the fallback.
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": _secs("AUTHSTATE_DJANGO_ACCESS_TTL_SECS", 300),
    "REFRESH_TOKEN_LIFETIME": _secs("AUTHSTATE_DJANGO_REFRESH_TTL_SECS", 86400),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "LEEWAY": 0,
}

# knox's token model is swappable; naming it lets migrations depend on it.
KNOX_TOKEN_MODEL = "knox.AuthToken"
REST_KNOX = {
    "TOKEN_TTL": _secs("AUTHSTATE_DJANGO_KNOX_TTL_SECS", 86400),
    "AUTO_REFRESH": False,
}

# Requests (django.server) and errors with tracebacks (django.request) go to stderr.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django.server": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "django.request": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
    },
}
