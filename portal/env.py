"""Typed readers for settings taken from the process environment.

Every reader fails fast with :class:`ImproperlyConfigured` naming the variable and
what a valid value looks like, so a typo in a deployment stops the process at start
instead of surfacing later as a confusing runtime error.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

__all__ = [
    "env_bool",
    "env_database",
    "env_int",
    "env_list",
    "env_redis_url",
    "env_str",
    "env_url",
]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _raw(name: str, environ: Mapping[str, str] | None) -> str | None:
    source = os.environ if environ is None else environ
    value = source.get(name)
    return None if value is None else value.strip()


def env_str(name: str, default: str, environ: Mapping[str, str] | None = None) -> str:
    """A string; an unset or empty variable gives ``default``."""
    value = _raw(name, environ)
    return value if value else default


def env_bool(name: str, default: bool, environ: Mapping[str, str] | None = None) -> bool:
    """A boolean spelt 1/0, true/false, yes/no or on/off (any case)."""
    value = _raw(name, environ)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name}={value!r} is not a boolean: use one of 1/0, true/false, yes/no, on/off."
    )


def env_int(
    name: str,
    default: int,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """An integer, optionally bounded."""
    value = _raw(name, environ)
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} is below the minimum of {minimum}.")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name}={number} is above the maximum of {maximum}.")
    return number


def env_list(name: str, default: list[str], environ: Mapping[str, str] | None = None) -> list[str]:
    """A comma-separated list; blanks around items are ignored."""
    value = _raw(name, environ)
    if value is None:
        return list(default)
    items = [item.strip() for item in value.split(",") if item.strip()]
    if not items:
        raise ImproperlyConfigured(f"{name} is set but empty: give a comma-separated list.")
    return items


def env_url(
    name: str,
    default: str | None,
    *,
    schemes: tuple[str, ...],
    environ: Mapping[str, str] | None = None,
) -> str | None:
    """A URL whose scheme is one of ``schemes``."""
    value = _raw(name, environ)
    if not value:
        return default
    parts = urlsplit(value)
    if parts.scheme not in schemes:
        allowed = ", ".join(f"{s}://" for s in schemes)
        raise ImproperlyConfigured(f"{name}={value!r} must start with one of: {allowed}.")
    if parts.scheme not in ("unix", "sqlite") and not parts.hostname:
        raise ImproperlyConfigured(f"{name}={value!r} has no host name.")
    return value


def env_redis_url(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """A Redis URL (redis:// or rediss://), or None when unset: embedded mode."""
    return env_url(name, None, schemes=("redis", "rediss"), environ=environ)


def env_database(name: str, default_sqlite: Path, environ: Mapping[str, str] | None = None) -> dict:
    """A Django DATABASES entry from a URL.

    ``postgres://user:pass@host:5432/name`` or ``sqlite:////absolute/path.db``; unset
    means the embedded SQLite file ``default_sqlite``.
    """
    value = _raw(name, environ)
    if not value:
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(default_sqlite)}
    parts = urlsplit(value)
    if parts.scheme == "sqlite":
        path = unquote(parts.path)
        if not path or path == "/":
            raise ImproperlyConfigured(
                f"{name}={value!r} names no file: use sqlite:////absolute/path/to/berth.db."
            )
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": path}
    if parts.scheme in ("postgres", "postgresql", "pgsql"):
        db_name = unquote(parts.path.lstrip("/"))
        if not parts.hostname or not db_name:
            raise ImproperlyConfigured(
                f"{name}={value!r} needs a host and a database name: "
                "postgres://user:password@host:5432/berth."
            )
        try:
            port = parts.port
        except ValueError:
            raise ImproperlyConfigured(f"{name}={value!r} has an invalid port.") from None
        options: dict = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        # Requests run on a fixed set of threads (portal.core.asgi_http), each keeping
        # its connection for CONN_MAX_AGE. A pool per process hands connections over
        # instead, but every thread that touches the database holds one of its
        # connections until it closes it, and Berth's long-lived threads (log followers,
        # the embedded worker's, runners) do not all close theirs yet: a small pool then
        # runs dry. So it is opt-in.
        pool_size = env_int("BERTH_DB_POOL_SIZE", 0, minimum=0, maximum=500, environ=environ)
        if pool_size:
            options["pool"] = {"min_size": 1, "max_size": pool_size, "timeout": 10}
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": db_name,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname,
            "PORT": str(port or 5432),
            "OPTIONS": options,
            "CONN_MAX_AGE": 0 if pool_size else 60,  # Django refuses both at once
        }
    raise ImproperlyConfigured(
        f"{name}={value!r}: unsupported database; use postgres://... or sqlite:////path."
    )
