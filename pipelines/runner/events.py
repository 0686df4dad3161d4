"""A run's progress events and its stages' logs: persisted first, pushed after commit."""

from __future__ import annotations

import threading
import time

from django.db import IntegrityError, transaction
from django.db.models import Max

from pipelines.models import PipelineRun, RunEvent, StageRun
from portal.core.events import broadcast_on_commit

__all__ = ["LogWriter", "WAITING_GROUP", "record_event", "run_group"]

#: Every "waiting for you" socket: told to look again when an approval opens or closes.
WAITING_GROUP = "pipelines.waiting"
MAX_LOG = 512 * 1024  # characters kept of a stage's log (its tail)


def run_group(run_id: int) -> str:
    """Websocket group that receives a run's progress events."""
    return f"pipeline-run.{run_id}"


def record_event(run_id: int, stage: str, kind: str, message: str, data: dict | None = None):
    """Append the run's next event and push it after commit. The run's row is locked while
    the number is taken; without row locks (SQLite) the unique constraint decides."""
    for attempt in range(5):
        try:
            with transaction.atomic():
                PipelineRun.objects.select_for_update().filter(pk=run_id).first()
                last = RunEvent.objects.filter(run_id=run_id).aggregate(m=Max("seq"))["m"] or 0
                event = RunEvent.objects.create(
                    run_id=run_id, seq=last + 1, stage=stage, kind=kind,
                    message=message[:4000], data=data or {},
                )  # fmt: skip
                broadcast_on_commit(
                    run_group(run_id), {"type": "run.event", "event": event.as_message()}
                )
                if kind in ("waiting", "stage", "run"):
                    broadcast_on_commit(WAITING_GROUP, {"type": "waiting.changed"})
                return event
        except IntegrityError:
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


class LogWriter:
    """A running stage's log: lines are kept (the tail, bounded) and flushed to the stage
    row and the run's events at most every ``interval`` seconds, in batches."""

    def __init__(self, stage: StageRun, interval: float = 0.3):
        self.stage = stage
        self.interval = interval
        self.text = stage.log
        self.pending: list[str] = []
        self.flushed_at = 0.0  # the first line goes out at once
        self.lock = threading.Lock()

    def write(self, text: str) -> None:
        if not text:
            return
        with self.lock:
            self.pending.append(text)
        if time.monotonic() - self.flushed_at >= self.interval:
            self.flush()

    def line(self, text: str) -> None:
        self.write(text.rstrip("\n") + "\n")

    def flush(self) -> None:
        with self.lock:
            chunk, self.pending = "".join(self.pending), []
            self.flushed_at = time.monotonic()
        if not chunk:
            return
        self.text = (self.text + chunk)[-MAX_LOG:]
        StageRun.objects.filter(pk=self.stage.pk).update(log=self.text)
        record_event(self.stage.run_id, self.stage.name, "log", chunk[-16384:])
