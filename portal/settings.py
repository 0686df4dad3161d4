"""Django settings for Berth.

Everything comes from the environment through the typed readers in
:mod:`portal.env`. With no variable set Berth runs its embedded defaults: SQLite,
the in-memory channel layer and a Celery worker inside the server process. Setting
``REDIS_URL`` switches to channels_redis and a Redis broker, with ``celery -A portal
worker`` running as separate processes.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from portal.env import (
    env_bool,
    env_database,
    env_int,
    env_list,
    env_redis_url,
    env_str,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("BERTH_DATA_DIR", str(BASE_DIR / "var")))
# It holds the secret key, the SQLite database and the beat schedule: owner only.
DATA_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
DATA_DIR.chmod(0o700)

DEBUG = env_bool("BERTH_DEBUG", False)


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once and kept in DATA_DIR."""
    configured = env_str("SECRET_KEY", "")
    if configured:
        if len(configured) < 32:
            raise ImproperlyConfigured(
                "SECRET_KEY is too short: use at least 32 random characters."
            )
        return configured
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        # Created 0600 from the first byte, never readable by others even briefly.
        with os.fdopen(os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            f.write(secrets.token_urlsafe(50))
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and Redoc served from static/, no CDN
    "guardian",
    "channels",
    "axes",
    "portal",
    "environments",
    "registry",
    "pipelines",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "portal.middleware.RefuseNulCharacters",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "portal.core.audit.SourceAddressMiddleware",
    "axes.middleware.AxesMiddleware",  # last: answers a locked-out login with 429
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.navigation.navigation",
            ],
            "builtins": ["portal.templatetags.berth"],
        },
    },
]

DATABASES = {"default": env_database("DATABASE_URL", DATA_DIR / "berth.sqlite3")}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Several processes (server, embedded worker threads, tests) share the file:
    # wait for a lock instead of failing with "database is locked".
    # WAL lets pages read while a deployment writes its progress. A transaction begins
    # IMMEDIATE, taking the write lock at once (promotions rely on it: their tag lock).
    # Threads keep their connection (the HTTP threads between requests): opening the
    # file and reading its schema again cost about a millisecond per request.
    DATABASES["default"]["CONN_MAX_AGE"] = 600
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not shared-cache memory, for tests too: shared-cache SQLite locks whole
    # tables and ignores the busy timeout, so worker threads would fail at once.
    # One per test run, so two runs in one checkout never share (and delete) a file.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / f"test-berth-{os.getpid()}.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: counts failures, refuses when locked
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
ANONYMOUS_USER_NAME = None  # guardian: anonymous users get no object permissions at all
GUARDIAN_RAISE_403 = False

# Failed sign-ins (the login page and POST /api/token/) are limited per account and per
# client address; the address comes from X-Forwarded-For only behind as many proxies as
# BERTH_TRUSTED_PROXIES declares (0: the peer address, whatever the client sends).
TRUSTED_PROXIES = env_int("BERTH_TRUSTED_PROXIES", 0, minimum=0, maximum=10)
AXES_FAILURE_LIMIT = env_int("BERTH_LOGIN_FAILURE_LIMIT", 10, minimum=3, maximum=1000)
AXES_COOLOFF_TIME = env_int("BERTH_LOGIN_COOLOFF_MINUTES", 15, minimum=1, maximum=24 * 60) / 60
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False  # flags the request, for the API
AXES_HTTP_RESPONSE_CODE = 429
AXES_CLIENT_IP_CALLABLE = "portal.core.client_ip.client_ip"
AXES_VERBOSE = False

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "static"
# The ASGI app serves static files itself unless a reverse proxy in front is
# configured to (BERTH_SERVE_STATIC=false).
SERVE_STATIC = env_bool("BERTH_SERVE_STATIC", True)

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("BERTH_SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "portal.core.tokens.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # A JSON body nested at most 64 deep; the form parsers are DRF's defaults.
    "DEFAULT_PARSER_CLASSES": [
        "portal.api.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    # limit from 1 (at most 500, larger is clamped), offset from 0; anything else is a 400
    "DEFAULT_PAGINATION_CLASS": "portal.api.pagination.BoundedLimitOffsetPagination",
    "PAGE_SIZE": 100,
    "EXCEPTION_HANDLER": "portal.api.exceptions.exception_handler",
    "NUM_PROXIES": TRUSTED_PROXIES,  # throttles trust X-Forwarded-For no further
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Berth API",
    "DESCRIPTION": "Environments, deployments and promotions of the Berth container portal.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # /api/docs/ and /api/redoc/ load their scripts from our own static files.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Background work and websockets -------------------------------------------------
REDIS_URL = env_redis_url("REDIS_URL")
EMBEDDED = REDIS_URL is None

if EMBEDDED:
    # One process: the in-memory layer only reaches consumers in this process, which
    # is why the embedded Celery worker runs inside the server too.
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CELERY_BROKER_URL = "memory://"
    # kombu's memory transport, woken at once when a task is queued (portal/broker.py):
    # the stock one sleeps between looks, so each task waited for the next look.
    CELERY_BROKER_TRANSPORT = "portal.broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {"polling_interval": 1.0}
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "capacity": 1000, "expiry": 30},
        }
    }
    CELERY_BROKER_URL = REDIS_URL

# Start a worker thread inside the ASGI server process (embedded mode only).
EMBEDDED_WORKER = env_bool("BERTH_EMBEDDED_WORKER", EMBEDDED)
if EMBEDDED_WORKER and not EMBEDDED:
    raise ImproperlyConfigured(
        "BERTH_EMBEDDED_WORKER=true needs the embedded mode: unset REDIS_URL, "
        "or run `celery -A portal worker` beside the server."
    )
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]

# Threads serving requests to sync views (every page and API call), each keeping its
# database connection between requests (portal.core.asgi_http).
HTTP_THREADS = env_int("BERTH_HTTP_THREADS", 16, minimum=1, maximum=256)
# The server (manage.py serve): one access log line per request, and how long open
# requests may take to finish when it is stopped (seconds).
ACCESS_LOG = env_bool("BERTH_ACCESS_LOG", True)
SHUTDOWN_GRACE = env_int("BERTH_SHUTDOWN_GRACE", 10, minimum=0, maximum=600)
# Seconds a request's line and headers may take to arrive (portal.core.http_protocol).
HEAD_TIMEOUT = env_int("BERTH_HEAD_TIMEOUT", 30, minimum=1, maximum=3600)
# How often every environment's endpoint is probed for the dashboard (seconds).
ENDPOINT_PROBE_INTERVAL = env_int("BERTH_PROBE_INTERVAL", 30, minimum=5, maximum=3600)
# How often tags are reconciled with every registry (seconds); notifications are faster.
REGISTRY_REFRESH_INTERVAL = env_int("BERTH_REGISTRY_REFRESH_INTERVAL", 300, minimum=10)
# A running deployment whose worker has not reported for this long is failed (seconds).
DEPLOYMENT_STALE_AFTER = env_int("BERTH_DEPLOYMENT_STALE_AFTER", 60, minimum=5, maximum=3600)
# Exec sessions (the Console tab, berth exec): closed after this many seconds with no
# input and no output; at most this many open at once per user.
EXEC_IDLE_TIMEOUT = env_int("BERTH_EXEC_IDLE_TIMEOUT", 900, minimum=10, maximum=86400)
EXEC_SESSIONS_PER_USER = env_int("BERTH_EXEC_SESSIONS_PER_USER", 4, minimum=1, maximum=100)
# The traffic proxy (HAProxy) Berth runs for entry points: "embedded" starts and
# supervises it on this host; "off" runs none (entry points are then only records).
# "external" drives an HAProxy someone else runs: its admin socket, a config file it
# loads beside its own, and the command that reloads it.
PROXY_MODE = env_str("BERTH_PROXY_MODE", "embedded")
if PROXY_MODE not in ("embedded", "external", "off"):
    raise ImproperlyConfigured(f"BERTH_PROXY_MODE={PROXY_MODE!r}: use embedded, external or off.")
PROXY_DIR = Path(env_str("BERTH_PROXY_DIR", str(DATA_DIR / "proxy")))
PROXY_SOCKET = env_str("BERTH_PROXY_SOCKET", "")
PROXY_CONFIG = env_str("BERTH_PROXY_CONFIG", "")
PROXY_RELOAD_COMMAND = env_str("BERTH_PROXY_RELOAD_COMMAND", "")
if PROXY_MODE == "external":
    for _name, _value in (
        ("BERTH_PROXY_SOCKET", PROXY_SOCKET), ("BERTH_PROXY_CONFIG", PROXY_CONFIG),
        ("BERTH_PROXY_RELOAD_COMMAND", PROXY_RELOAD_COMMAND),
    ):  # fmt: skip
        if not _value:
            raise ImproperlyConfigured(f"BERTH_PROXY_MODE=external needs {_name}.")
PROXY_BIND = env_str("BERTH_PROXY_BIND", "127.0.0.1")

# Directories whose git repositories a pipeline's build may clone by local path (or
# file:// URL). None by default: a build then reads only http(s) and ssh remotes, so no
# pipeline author can make the server clone whatever it can read.
BUILD_LOCAL_ROOTS = [os.path.normpath(p) for p in env_list("BERTH_BUILD_LOCAL_ROOTS", [])]
if any(not root.startswith("/") for root in BUILD_LOCAL_ROOTS):
    raise ImproperlyConfigured("BERTH_BUILD_LOCAL_ROOTS lists absolute directories, e.g. /srv/git.")
PROXY_WAIT = env_int("BERTH_PROXY_WAIT", 15, minimum=1, maximum=600)
# Timeout of one call to a Docker endpoint while probing or listing (seconds).
DOCKER_TIMEOUT = env_int("BERTH_DOCKER_TIMEOUT", 5, minimum=1, maximum=300)
# The engine the demo environments use; scripts/stack.sh exports it.
DOCKER_HOST = env_url("DOCKER_HOST", "unix:///var/run/docker.sock", schemes=("unix", "tcp"))
DEMO_REGISTRY_URL = env_url(
    "BERTH_REGISTRY_URL", "http://127.0.0.1:5000", schemes=("http", "https")
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("BERTH_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # One line per periodic task every few seconds drowns what matters.
        "celery.app.trace": {"level": env_str("BERTH_TASK_LOG_LEVEL", "WARNING")},
        "celery.worker.strategy": {"level": env_str("BERTH_TASK_LOG_LEVEL", "WARNING")},
        "celery.beat": {"level": env_str("BERTH_TASK_LOG_LEVEL", "WARNING")},
        # Every failed sign-in is an INFO line; lockouts are WARNING and stay visible.
        "axes": {"level": "WARNING"},
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
FORMS_URLFIELD_ASSUME_HTTPS = True
