"""What a log reader follows: one container, or one Swarm service (every task merged).

A source knows how to open one output stream (``stdout`` or ``stderr``) of its log, how
to turn a raw line into the line dict sent to viewers, and what to tell the viewers when
Docker ends the streams. :mod:`environments.live.logs` does the rest (threads, batching,
fan-out) the same way for both kinds.

Lines are ``{"ts", "stream", "text"}``; lines of a Swarm service also carry ``replica``
(``<service>.<slot>``, as ``docker service ps`` names tasks). Each (replica, stream) is
ordered by time, but a Swarm service's tasks are merged by the engine in arrival order,
not by time, so resume cursors are kept per :func:`cursor_key`, never per stream alone.
"""

from __future__ import annotations

import logging
import threading
import time

from environments import engine
from environments.live.hub import close_quietly
from environments.live.lines import iter_lines

__all__ = [
    "ContainerSource",
    "SwarmServiceSource",
    "cursor_after",
    "cursor_key",
    "read_finite",
]

log = logging.getLogger(__name__)

# Docker sometimes never ends a finished ``docker service logs`` without follow, even
# stalling halfway (moby/moby#38640, docker/cli#4678); a read with no byte for this long
# is closed and done again.
SWARM_STALL_SECONDS = 2.0
SWARM_READ_ATTEMPTS = 3


def read_finite(source, client, stream: str, *, tail, since=None, stall: float | None = None):
    """``(lines, complete)``: one non-following read of one stream of ``source``. With
    ``stall``, a read that gets no byte for that many seconds is closed from a watchdog
    thread and is not ``complete``."""
    opened = source.open(client, stream, follow=False, tail=tail, since=since)
    progress, done, stalled = [time.monotonic()], threading.Event(), threading.Event()

    def watch() -> None:
        while not done.wait(0.2):
            if time.monotonic() - progress[0] > stall:
                stalled.set()
                close_quietly(opened)
                return

    if stall:
        threading.Thread(target=watch, daemon=True, name="berth-logs-watchdog").start()
    lines = []
    try:
        for ts, text in iter_lines(opened, source.framed):
            progress[0] = time.monotonic()
            lines.append(source.line(ts, stream, text, client))
    except Exception:
        if not stalled.is_set():
            raise
    finally:
        done.set()
        close_quietly(opened)
    return lines, not stalled.is_set()


def cursor_key(line: dict) -> str:
    """The key under which a line's resume cursor is kept: its stream, or for a line of a
    Swarm task ``<replica>/<stream>``."""
    replica = line.get("replica")
    return f"{replica}/{line['stream']}" if replica else line["stream"]


def cursor_after(cursors: dict[str, str], key: str) -> str:
    """The last timestamp held for ``key``; a replica without a cursor of its own falls
    back to its stream's (what ``since=`` sets for every replica at once)."""
    if key in cursors:
        return cursors[key]
    return cursors.get(key.rpartition("/")[2], "")


class ContainerSource:
    """The log of one container (``container`` as :func:`engine.inspect_container` gives)."""

    kind = "container"

    def __init__(self, container: dict):
        self.container = container
        self.id = container["id"]
        self.framed = not container.get("tty")
        self.label = container["id"][:12]

    def open(self, client, stream: str, *, follow: bool, tail, since=None, until=None):
        return engine.log_stream(
            client,
            self.id,
            stream,
            follow=follow,
            tail=tail,
            since=since,
            until=until,
            framed=self.framed,
        )

    def line(self, ts: str, stream: str, text: str, client=None) -> dict:
        return {"ts": ts, "stream": stream, "text": text}

    def read(self, client, stream: str, *, tail, since=None) -> tuple[list[dict], bool]:
        """``(lines, complete)`` of one stream up to now (a backlog)."""
        return read_finite(self, client, stream, tail=tail, since=since)

    def outcome(self, client) -> dict:
        """What the followers are told when Docker ends the streams."""
        state = engine.container_exit(client, self.id)
        if state is None:
            return {"type": "end", "reason": "container removed"}
        status, code = state
        if status == "restarting":
            return {"type": "end", "reason": f"container exited (code {code}) and is restarting"}
        if status in ("running", "paused"):  # restarted already, or the engine cut the stream
            return {"type": "error", "message": f"The log stream ended while the container is {status}: reconnect with since= to go on."}  # fmt: skip
        return {"type": "end", "reason": f"container exited (code {code})"}


class SwarmServiceSource:
    """The merged log of every task of one Swarm service (``docker service logs``).

    Lines come with ``details``: ``com.docker.swarm.task.id=...`` names the task; the task
    list maps task ids to slots, read again when an unknown task appears (a rolling
    update starts new ones).
    """

    kind = "swarm"

    def __init__(self, name: str):
        self.name = name
        self.id = name
        self.framed = True
        self.label = name
        self._replicas: dict[str, str] = {}
        self._lock = threading.Lock()

    def open(self, client, stream: str, *, follow: bool, tail, since=None, until=None):
        return engine.service_log_stream(
            client, self.name, stream, follow=follow, tail=tail, since=since
        )

    def read(self, client, stream: str, *, tail, since=None) -> tuple[list[dict], bool]:
        """``(lines, complete)`` of one stream up to now; a read Docker leaves hanging is
        done again, and when every attempt hangs the longest is kept, not complete."""
        best: list[dict] = []
        for attempt in range(1, SWARM_READ_ATTEMPTS + 1):
            lines, complete = read_finite(
                self, client, stream, tail=tail, since=since, stall=SWARM_STALL_SECONDS
            )
            if complete:
                return lines, True
            log.info("Swarm log read of %s (%s) stalled, attempt %d", self.name, stream, attempt)
            best = max(best, lines, key=len)
        return best, False

    def line(self, ts: str, stream: str, text: str, client=None) -> dict:
        details, _, message = text.partition(" ")
        task = ""
        if "com.docker.swarm." in details:
            for pair in details.split(","):
                key, _, value = pair.partition("=")
                if key == "com.docker.swarm.task.id":
                    task = value
        else:  # no details (an engine that does not send them): keep the whole text
            message = text
        return {"ts": ts, "stream": stream, "text": message, "replica": self.replica(task, client)}

    def replica(self, task: str, client=None) -> str:
        """``<service>.<slot>`` of a task id (``<service>.<task id prefix>`` for a task of a
        global service, or one that is gone)."""
        if not task:
            return self.name
        with self._lock:
            known = self._replicas.get(task)
        if known is None and client is not None:
            try:
                tasks = engine.swarm_tasks(client, self.name)
            except engine.EngineUnavailable:
                tasks = []
            with self._lock:
                for row in tasks:
                    slot = row.get("Slot")
                    self._replicas[row["ID"]] = (
                        f"{self.name}.{slot}" if slot else f"{self.name}.{row['ID'][:12]}"
                    )
                known = self._replicas.setdefault(task, f"{self.name}.{task[:12]}")
        return known or f"{self.name}.{task[:12]}"

    def outcome(self, client) -> dict:
        if not engine.swarm_service_exists(client, self.name):
            return {"type": "end", "reason": "service removed"}
        return {"type": "error", "message": "The service's log stream ended: reconnect with since= to go on."}  # fmt: skip
