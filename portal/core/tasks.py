"""Queueing Celery tasks from domain code: only once the transaction commits.

A task that reads a row written in the same transaction must not run before the row is
visible, and must not run at all when the transaction rolls back.
"""

from __future__ import annotations

from celery import current_app
from django.db import transaction

__all__ = ["dispatch_on_commit"]


def dispatch_on_commit(task_name: str, *args) -> None:
    """Queue the task registered as ``task_name`` once the surrounding transaction
    commits. Domain code names the task instead of importing it, so tasks (an edge) may
    import the domain and never the other way round."""
    transaction.on_commit(lambda: current_app.send_task(task_name, args=args))
