"""Queueing Celery tasks from domain code: only once the transaction commits.

A task that reads a row written in the same transaction must not run before the row is
visible, and must not run at all when the transaction rolls back.

Where the caller is about to do the queued work itself (a pipeline worker runs the
stage it just started, and the deployment its deploy stage just recorded), the task is
only a fallback: inside :func:`doing_it_here` it is queued to run a few seconds later.
By then the caller has claimed the work (every such task claims atomically), so the
task finds it claimed and does nothing; had the caller died first, the task does the
work. Queued at once, it would race the caller for the same rows at the same moment,
and on SQLite the loser of such a race sleeps in the busy handler.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from celery import current_app
from django.db import transaction

__all__ = ["FALLBACK_DELAY", "dispatch_on_commit", "doing_it_here"]

FALLBACK_DELAY = 5.0  # seconds a fallback task waits for its caller to claim the work
_here = threading.local()


@contextmanager
def doing_it_here() -> Iterator[None]:
    """Tasks queued by this thread inside are fallbacks, queued ``FALLBACK_DELAY``
    seconds late: the caller does that work itself right after."""
    outer = getattr(_here, "active", False)
    _here.active = True
    try:
        yield
    finally:
        _here.active = outer


def dispatch_on_commit(task_name: str, *args) -> None:
    """Queue the task registered as ``task_name`` once the surrounding transaction
    commits. Domain code names the task instead of importing it, so tasks (an edge) may
    import the domain and never the other way round."""
    countdown = FALLBACK_DELAY if getattr(_here, "active", False) else None
    transaction.on_commit(lambda: current_app.send_task(task_name, args=args, countdown=countdown))
