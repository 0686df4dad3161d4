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


def start_embedded_worker(concurrency: int = 4) -> None:
    """Start the worker once per process; later calls do nothing."""
    if _started.is_set():
        return
    _started.set()
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
