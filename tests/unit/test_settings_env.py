"""Settings read from the environment fail fast with a message naming the variable."""

from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal.env import env_bool, env_database, env_int, env_list, env_redis_url, env_url


def test_unset_variables_give_the_embedded_defaults():
    assert env_bool("X", False, environ={}) is False
    assert env_int("X", 30, environ={}) == 30
    assert env_redis_url("REDIS_URL", environ={}) is None
    assert env_database("DATABASE_URL", Path("/tmp/b.db"), environ={}) == {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": "/tmp/b.db",
    }


@pytest.mark.parametrize(
    "raw,expected", [("1", True), ("TRUE", True), ("off", False), ("no", False)]
)
def test_it_reads_booleans_in_any_usual_spelling(raw, expected):
    assert env_bool("BERTH_DEBUG", not expected, environ={"BERTH_DEBUG": raw}) is expected


def test_it_refuses_a_boolean_it_cannot_read():
    with pytest.raises(ImproperlyConfigured, match="BERTH_DEBUG='maybe' is not a boolean"):
        env_bool("BERTH_DEBUG", False, environ={"BERTH_DEBUG": "maybe"})


def test_it_refuses_numbers_out_of_range_or_not_numbers():
    with pytest.raises(ImproperlyConfigured, match="not a whole number"):
        env_int("BERTH_PROBE_INTERVAL", 30, environ={"BERTH_PROBE_INTERVAL": "30s"})
    with pytest.raises(ImproperlyConfigured, match="below the minimum of 5"):
        env_int("BERTH_PROBE_INTERVAL", 30, minimum=5, environ={"BERTH_PROBE_INTERVAL": "1"})


def test_it_parses_postgres_urls():
    db = env_database(
        "DATABASE_URL",
        Path("/x"),
        environ={
            "DATABASE_URL": "postgres://berth:s%40cret@db.internal:6432/berth?sslmode=require"
        },
    )
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["USER"], db["PASSWORD"], db["HOST"], db["PORT"], db["NAME"]) == (
        "berth",
        "s@cret",
        "db.internal",
        "6432",
        "berth",
    )
    assert db["OPTIONS"] == {"sslmode": "require"}
    assert db["CONN_MAX_AGE"] == 60


def test_a_pool_is_opt_in_and_a_size_of_zero_keeps_persistent_connections():
    url = "postgres://berth@db.internal/berth"
    db = env_database(
        "DATABASE_URL", Path("/x"), environ={"DATABASE_URL": url, "BERTH_DB_POOL_SIZE": "10"}
    )
    assert db["OPTIONS"]["pool"] == {"min_size": 1, "max_size": 10, "timeout": 10}
    assert db["CONN_MAX_AGE"] == 0
    db = env_database(
        "DATABASE_URL", Path("/x"), environ={"DATABASE_URL": url, "BERTH_DB_POOL_SIZE": "0"}
    )
    assert "pool" not in db["OPTIONS"] and db["CONN_MAX_AGE"] == 60
    with pytest.raises(ImproperlyConfigured, match="BERTH_DB_POOL_SIZE"):
        env_database(
            "DATABASE_URL", Path("/x"), environ={"DATABASE_URL": url, "BERTH_DB_POOL_SIZE": "-1"}
        )


@pytest.mark.parametrize(
    "url,message",
    [
        ("mysql://x@y/z", "unsupported database"),
        ("postgres://host-only", "needs a host and a database name"),
        ("sqlite://", "names no file"),
    ],
)
def test_it_refuses_database_urls_it_cannot_use(url, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        env_database("DATABASE_URL", Path("/x"), environ={"DATABASE_URL": url})


def test_it_refuses_a_redis_url_with_the_wrong_scheme():
    with pytest.raises(ImproperlyConfigured, match="REDIS_URL='http://x' must start with one of"):
        env_redis_url("REDIS_URL", environ={"REDIS_URL": "http://x"})


def test_it_refuses_an_empty_allowed_hosts_list():
    with pytest.raises(ImproperlyConfigured, match="ALLOWED_HOSTS is set but empty"):
        env_list("ALLOWED_HOSTS", ["x"], environ={"ALLOWED_HOSTS": " , "})


def test_it_refuses_a_docker_host_that_is_not_unix_or_tcp():
    with pytest.raises(ImproperlyConfigured, match="must start with one of: unix://, tcp://"):
        env_url("DOCKER_HOST", None, schemes=("unix", "tcp"), environ={"DOCKER_HOST": "ssh://h"})


def test_bad_settings_stop_the_process_with_the_message(tmp_path):
    """Starting Django with a bad value exits with the variable named, not a traceback
    deep inside a request."""
    import subprocess
    import sys

    env = {"PATH": "/usr/bin:/bin", "BERTH_DATA_DIR": str(tmp_path), "REDIS_URL": "redis//oops"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "REDIS_URL='redis//oops' must start with one of: redis://, rediss://" in result.stderr


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("srv/git", "BERTH_BUILD_LOCAL_ROOTS lists absolute directories, e.g. /srv/git."),
        (" , ", "BERTH_BUILD_LOCAL_ROOTS is set but empty"),
    ],
)
def test_build_local_roots_are_absolute_directories(tmp_path, value, message):
    import subprocess
    import sys

    env = {
        "PATH": "/usr/bin:/bin",
        "BERTH_DATA_DIR": str(tmp_path),
        "BERTH_BUILD_LOCAL_ROOTS": value,
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0 and message in result.stderr, result.stderr[-2000:]
