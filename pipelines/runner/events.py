"""A run's progress events and its stages' logs: persisted first, pushed after commit."""

from __future__ import annotations

import threading
import time

from django.db import connection, transaction

from pipelines.models import PipelineRun, RunEvent, StageRun
from portal.core.events import broadcast_on_commit
from portal.core.sequences import take_next

__all__ = ["LogWriter", "WAITING_GROUP", "record_event", "run_group"]

#: Every "waiting for you" socket: told to look again when an approval opens or closes.
WAITING_GROUP = "pipelines.waiting"
MAX_LOG = 512 * 1024  # characters kept of a stage's log (its tail)
MAX_EVENT = 16 * 1024  # characters of one log event (the tail of a batch)


def run_group(run_id: int) -> str:
    """Websocket group that receives a run's progress events."""
    return f"pipeline-run.{run_id}"


def record_event(run_id: int, stage: str, kind: str, message: str, data: dict | None = None):
    """Append the run's next event and push it after commit. The number is taken from the
    run's counter, which locks the run's row until the transaction ends (one writer at a
    time per run)."""
    with transaction.atomic(savepoint=False):
        seq = take_next(PipelineRun, run_id, "last_event_seq")
        event = RunEvent.objects.create(
            run_id=run_id, seq=seq, stage=stage, kind=kind,
            message=message[: MAX_EVENT + 100 if kind == "log" else 4000],
            data=data or {},
        )  # fmt: skip
        broadcast_on_commit(run_group(run_id), {"type": "run.event", "event": event.as_message()})
        if kind in ("waiting", "stage", "run"):
            broadcast_on_commit(WAITING_GROUP, {"type": "waiting.changed"})
        return event


class LogWriter:
    """A running stage's log: lines are kept (the tail, bounded, with a marker saying how
    much was dropped) and flushed to the stage row and the run's events at most every
    ``interval`` seconds, in batches; what is pending goes out within ``interval`` even
    when nothing more is written."""

    def __init__(self, stage: StageRun, interval: float = 0.3):
        self.stage = stage
        self.interval = interval
        self.text = stage.log
        self.pending: list[str] = []
        self.pending_size = 0
        self.dropped = 0  # characters dropped from the kept log so far
        self.flushed_at = 0.0  # the first line goes out at once
        self.lock = threading.Lock()
        self.timer: threading.Timer | None = None

    def write(self, text: str) -> None:
        if not text:
            return
        with self.lock:
            self.pending.append(text)
            self.pending_size += len(text)
            if self.pending_size > 2 * MAX_LOG:  # a flood between two flushes: keep the tail
                joined = "".join(self.pending)
                self.dropped += len(joined) - MAX_LOG
                self.pending, self.pending_size = [joined[-MAX_LOG:]], MAX_LOG
            due = self.interval - (time.monotonic() - self.flushed_at)
            if due > 0 and self.timer is None:
                self.timer = threading.Timer(due, self._flush_later)
                self.timer.daemon = True
                self.timer.start()
        if due <= 0:
            self.flush()

    def line(self, text: str) -> None:
        self.write(text.rstrip("\n") + "\n")

    def _flush_later(self) -> None:
        try:
            self.flush()
        finally:
            connection.close()  # this timer thread's own connection

    def flush(self) -> None:
        with self.lock:
            chunk, self.pending, self.pending_size = "".join(self.pending), [], 0
            self.flushed_at = time.monotonic()
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
            if not chunk:
                return
            text = self.text + chunk
            if len(text) > MAX_LOG:
                self.dropped += len(text) - MAX_LOG
                text = text[-MAX_LOG:]
            self.text = text
            kept = text
            if self.dropped:
                kept = (
                    f"[... truncated: the first {self.dropped} characters of this log were "
                    f"dropped; the last {MAX_LOG // 1024} KiB are kept ...]\n" + text
                )
            message = chunk
            if len(chunk) > MAX_EVENT:
                message = (
                    f"[... truncated: {len(chunk) - MAX_EVENT} characters ...]\n"
                    + chunk[-MAX_EVENT:]
                )
            # One transaction: a viewer's snapshot holds a chunk either in the stage's log
            # or after it, live, never both and never neither.
            with transaction.atomic():
                StageRun.objects.filter(pk=self.stage.pk).update(log=kept)
                record_event(self.stage.run_id, self.stage.name, "log", message)
