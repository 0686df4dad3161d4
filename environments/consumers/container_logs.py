"""The live log of one container, and the flow control every log socket shares.

``/ws/containers/<container_id>/logs/?tail=500&since=<ts>``

* ``tail`` (default 500; ``all`` or with a ``since``: 10000, the most): the last lines of
  the log, both streams together as ``docker logs --tail`` counts them. ``since`` (RFC 3339
  or unix seconds): resume *after* that time; ``since_stdout`` / ``since_stderr`` give a
  cursor per stream, the exact resume point (the two streams are read separately, so the
  last line of one may be newer than lines of the other still on their way). Merged
  service logs take ``cursor=<replica>/<stream>,<ts>`` (repeated) for the same purpose.
* Server → client: ``{"type": "lines", "seq": n, "lines": [{"ts", "stream", "text"}]}``;
  ``{"type": "live"}`` once, after the backlog: from then on the lines are live;
  ``{"type": "skipped", "count": N, "since": ts, "until": ts}``: this client was too slow
  and lost the oldest queued batches, the range of the lost lines (ends included) being
  what the download endpoint returns for ``?since=&until=``; with ``"count": null`` the
  backlog window of a resume did not reach back to ``since``: lines between ``since`` and
  ``until`` may be missing. ``{"type": "end", "reason": "container exited (code N)"}``
  (or ``container removed``), ``{"type": "error", "message": ...}``; the server closes
  after either.
* Client → server: ``{"type": "ack", "seq": n}`` after handling a ``lines`` message. At
  most ``WINDOW`` of them are unacknowledged: an ASGI server may buffer whatever is sent
  without limit, so acknowledgements are what tells a slow client; a client that stops acking
  stops receiving lines and its hub queue drops the oldest batches (``skipped``).
* Refusal close codes (right after accept): those of :mod:`environments.consumers.base` (4401, 4404,
  4403 visible but no ``view_logs`` there, 4400 bad parameters, 4503).
"""

from __future__ import annotations

import asyncio
import json
import logging
from urllib.parse import parse_qs

from environments import engine
from environments.access import CONTAINER_REFERENCE
from environments.consumers.base import BerthConsumer, locate_container
from environments.live import logs
from environments.live.io import run_io
from environments.roles import LOGS
from portal.core.numbers import parse_whole

__all__ = ["ContainerLogConsumer", "LogSocket", "parse_log_options"]

log = logging.getLogger(__name__)

WINDOW = 8


def parse_log_options(query_string: bytes | str) -> dict:
    """``tail`` and per-stream cursors from a query string; ValueError when invalid."""
    if isinstance(query_string, bytes):
        query_string = query_string.decode("latin-1")
    parsed = parse_qs(query_string)
    query = {key: values[-1] for key, values in parsed.items()}
    cursors = {}
    if query.get("since"):
        cursors = dict.fromkeys(logs.STREAMS, logs.normalize_ts(query["since"]))
    for stream in logs.STREAMS:
        if query.get(f"since_{stream}"):
            cursors[stream] = logs.normalize_ts(query[f"since_{stream}"])
    for value in parsed.get("cursor", [])[:256]:  # <replica>/<stream>,<ts>: merged logs
        key, _, ts = value.rpartition(",")
        replica, _, stream = key.rpartition("/")
        if stream not in logs.STREAMS or not CONTAINER_REFERENCE.fullmatch(replica):
            raise ValueError("cursor is <replica>/<stdout|stderr>,<time>.")
        cursors[key] = logs.normalize_ts(ts)
    tail = query.get("tail", "")
    if tail in ("", "all"):
        lines = logs.MAX_TAIL if (cursors or tail == "all") else 500
    elif (lines := parse_whole(tail)) is None:
        raise ValueError(f"tail is a number of lines or all: not {tail[:40]!r}.")
    return {"tail": min(lines, logs.MAX_TAIL), "cursors": cursors}


class LogSocket(BerthConsumer):
    """Flow control shared by the log sockets: ``lines`` messages numbered and sent with at
    most ``WINDOW`` unacknowledged, and the backlog-then-live pump of one subscription."""

    sent = acked = 0
    credit: asyncio.Event

    async def dispatch(self, message) -> None:
        # Acks arrive for every batch: Channels' dispatch would first hop to the database
        # thread to close old connections, which nothing here uses.
        if message["type"] == "websocket.receive":
            await self.websocket_receive(message)
            return
        await super().dispatch(message)

    def parse_options(self) -> None:
        """``self.options`` from the query string; ValueError (4400) when invalid."""
        self.options = parse_log_options(self.scope.get("query_string", b""))

    def start_flow(self) -> None:
        self.sent = self.acked = 0
        self.credit = asyncio.Event()

    async def receive_json(self, content, **kwargs) -> None:
        if isinstance(content, dict) and content.get("type") == "ack":
            try:
                seq = int(content.get("seq"))
            except (TypeError, ValueError):
                return
            self.acked = max(self.acked, min(seq, self.sent))
            self.credit.set()

    async def _send_lines(self, lines_json: str, replica: str | None = None) -> None:
        while self.sent - self.acked >= WINDOW:
            self.credit.clear()
            await self.credit.wait()
        self.sent += 1
        label = f',"replica":{json.dumps(replica)}' if replica is not None else ""
        await self.send(
            text_data=f'{{"type":"lines","seq":{self.sent}{label},"lines":{lines_json}}}'
        )

    async def _finish(self, message: dict) -> None:
        await self.send_json(message)
        await self.close()

    async def send_backlog(self, environment, source, *, tail: int, cursors: dict) -> dict:
        """Send the backlog of ``source`` after ``cursors``; returns the cursors reached."""
        lines, notices, cursors = await run_io(
            logs.read_backlog, environment, source, tail=tail, cursors=cursors
        )
        for notice in notices:
            await self.send_json(notice)
        for batch in logs.batches(lines):
            await self._send_lines(batch.json())
        return cursors

    async def follow(self, subscription, cursors: dict, replica: str | None = None) -> dict:
        """Forward live batches newer than ``cursors`` until the reader ends; returns the
        final ``end`` or ``error`` message (not sent). Batches that queued up while this
        socket was busy go together, as one message."""
        while True:
            skipped, item = await subscription.get()
            if skipped:
                await self.send_json({"type": "skipped", **skipped} | ({"replica": replica} if replica else {}))  # fmt: skip
            if not isinstance(item, logs.Batch):
                return item
            parts = []
            more = subscription.take_ready(
                logs.BATCH_LINES - len(item.lines), logs.BATCH_BYTES - item.size
            )
            for batch in (item, *more):
                fresh = batch.newer_than(cursors)
                for key, ts in batch.last.items():
                    cursors[key] = max(ts, cursors.get(key, ""))
                if fresh is None:
                    parts.append(batch.json()[1:-1])  # the lines of a JSON list, encoded once
                elif fresh:
                    parts.append(json.dumps(fresh, ensure_ascii=False)[1:-1])
            if parts:
                await self._send_lines(f"[{','.join(parts)}]", replica)


class ContainerLogConsumer(LogSocket):
    """Backlog, then the live lines of one container, from the process's log hub."""

    subscription: logs.Subscription | None = None

    async def authorize(self, user, container_id: str) -> None:
        self.parse_options()
        self.environment, self.container = await locate_container(user, container_id, LOGS)

    async def opened(self) -> None:
        self.start_flow()
        self.subscription = logs.hub.subscribe(self.environment, self.container)
        self.start_task(self._pump())

    async def closed(self) -> None:
        if self.subscription is not None:
            logs.hub.unsubscribe(self.subscription)
            self.subscription = None

    async def _pump(self) -> None:
        subscription = self.subscription
        try:
            await subscription.ready
            cursors = await self.send_backlog(self.environment, self.container, **self.options)
            await self.send_json({"type": "live"})
            await self._finish(await self.follow(subscription, cursors))
        except engine.ContainerMissing:
            await self._finish({"type": "end", "reason": "container removed"})
        except engine.EngineUnavailable as exc:
            await self._finish({"type": "error", "message": str(exc)})
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("Log stream of %s failed", self.container["id"])
            await self._finish({"type": "error", "message": "The log stream failed."})
