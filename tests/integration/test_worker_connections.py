"""A worker's database connections: the embedded worker's threads keep theirs between
tasks (Django's rule, as for requests), and one past CONN_MAX_AGE is renewed."""

from __future__ import annotations

import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.db import connection
from django.db.backends.signals import connection_created

from portal import worker
from portal.celery import app

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

_seen: list[int] = []  # per task: how many connections the worker had opened by then
_opened: list[int] = []


def _count_opened(sender, connection, **kwargs) -> None:
    _opened.append(1)


@app.task(name="tests.note_connection")
def note_connection(expire: bool = False, close: bool = False) -> None:
    """Note which connection this task used; optionally age it out, or close it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    _seen.append(len(_opened))
    if expire:
        connection.close_at = time.monotonic() - 1
    if close:
        connection.close()


def _connections_used(tasks: list[dict]) -> list[int]:
    _seen.clear()
    _opened.clear()
    connection_created.connect(_count_opened)
    try:
        return _run(tasks)
    finally:
        connection_created.disconnect(_count_opened)


def _run(tasks: list[dict]) -> list[int]:
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        for options in tasks:
            note_connection.delay(**options)
        deadline = time.monotonic() + 30
        while len(_seen) < len(tasks) and time.monotonic() < deadline:
            time.sleep(0.05)
    assert len(_seen) == len(tasks)
    return list(_seen)


def _celerys_django_fixup():
    """Celery's Django fixup of worker processes: it reads DB_REUSE_MAX once, when this
    process's first worker starts (the embedded worker sets it before that); a test
    process has started workers before, so the tests set it there."""
    return next(fixup for fixup in app._fixups if hasattr(fixup, "worker_fixup")).worker_fixup


def test_the_embedded_workers_tasks_keep_their_connection_until_it_is_too_old(monkeypatch):
    monkeypatch.setattr(_celerys_django_fixup(), "db_reuse_max", worker.DB_REUSE_MAX)
    opened = _connections_used([{}, {}, {"expire": True}, {}, {"close": True}])
    # One connection for the first three tasks; past its age it is closed after the
    # task, and the next opens a new one, kept again.
    assert opened[0] == opened[1] == opened[2]
    assert opened[3] == opened[2] + 1 == opened[4]


def test_celerys_default_opens_a_connection_per_task(monkeypatch):
    """The contrast: without DB_REUSE_MAX each task opens its own (separate workers)."""
    monkeypatch.setattr(_celerys_django_fixup(), "db_reuse_max", None)
    opened = _connections_used([{}, {}, {"close": True}])
    assert opened[1] == opened[0] + 1 and opened[2] == opened[1] + 1
