"""The embedded Celery worker: a worker and its beat scheduler in threads of the server.

Used when no ``REDIS_URL`` is set. The broker is ``memory://``, which only exists
inside this process, and so does the in-memory channel layer: tasks started by a
request run here and their websocket events reach this process's consumers.
"""

from __future__ import annotations

import logging
import threading

from celery.beat import EmbeddedService
from django.conf import settings

from portal.celery import app

__all__ = ["start_embedded_worker"]

log = logging.getLogger(__name__)
_started = threading.Event()
# Tasks between Celery's own recycling of a thread's database connections (see below).
DB_REUSE_MAX = 10_000


def start_embedded_worker(concurrency: int = 4) -> None:
    """Start the worker once per process; later calls do nothing."""
    if _started.is_set():
        return
    _started.set()
    # The worker's threads keep their database connections between tasks, by Django's
    # rule for requests (portal.celery closes old or broken ones around each task), not
    # by Celery's default of closing them before and after every task: opening one again
    # cost a task about 5 ms (SQLite: the file, the schema, Django's functions). Celery
    # still recycles them every DB_REUSE_MAX tasks.
    app.conf.CELERY_DB_REUSE_MAX = DB_REUSE_MAX
    worker = app.WorkController(
        app=app,
        pool_cls="threads",
        concurrency=concurrency,
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
        hostname="embedded@berth",
        loglevel="INFO",
    )
    thread = threading.Thread(target=worker.start, name="berth-embedded-worker", daemon=True)
    thread.start()
    # Not the worker's own beat option: that forks a process, and the memory:// broker
    # exists only in this one, so its tasks would vanish.
    EmbeddedService(
        app, thread=True, schedule_filename=settings.CELERY_BEAT_SCHEDULE_FILENAME
    ).start()
    log.info("Embedded Celery worker started (%d threads, beat on).", concurrency)
