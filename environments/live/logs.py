"""Live container logs: one Docker log reader per container per server process.

* :data:`hub` keeps one reader per (endpoint, source): a source is a container or a Swarm
  service (:mod:`environments.live.sources`). The first subscriber starts it;
  when the last one leaves it is stopped: ``CancellableStream.close()`` shuts its sockets
  and its threads end. With the Redis channel layer every server process has its own
  hub, so a container followed from two processes has two readers; logs never travel
  through the channel layer (no capacity drops, no per-line messages).
* A reader reads in threads of its own (one per stream: Docker logs have no demux, so
  stdout and stderr are two requests) with a DockerClient of its own, never on the event
  loop. Lines are parsed there and handed to the loop with ``call_soon_threadsafe``: at
  once while every viewer is idle (waiting for lines, nothing queued), so a line reaches
  a viewer that can take it within a millisecond or two (at most one such hand-over per
  4 ms: a fast writer's lines go a few milliseconds' worth at a time); batched only under
  load, when a viewer is still busy with earlier lines: then at once when the reader has
  sent nothing for 50 ms, else every 50 ms, or at 500 lines / 256 KiB, and as soon as
  every viewer is idle again. If the loop falls behind, the threads wait
  (bounded pending buffer): that pushes back on Docker instead of growing memory. They also wait while *every* subscriber has half its queue or more
  unread: when all viewers are behind (a burst, a busy server) nobody is left to keep up
  for, and Docker holds the lines instead of the queues dropping them; one slow viewer
  among others never pauses the reader, its own queue drops instead.
* Each subscriber has a bounded queue of batches; batches are shared between subscribers,
  not copied. A viewer that finds several batches queued takes them together
  (:meth:`Subscription.take_ready`, up to 500 lines / 256 KiB): one message for what
  piled up while it was busy, in order. Slow-subscriber policy: when a subscriber's queue is full its *oldest*
  batch is dropped and, just before the next batch it takes, it is told
  ``{"type": "skipped", "count": N, "since": ts, "until": ts}``: the dropped range, both
  ends inclusive, which ``GET .../logs/download/?since=&until=`` returns. The view stays
  live, nobody else waits, and memory per subscriber is bounded.
* A new subscriber registers first, reads its backlog (tail/since) with a short request
  of its own, then takes live batches, dropping lines not newer than the last line it
  has of that stream: no gap and no duplicate at the seam.
* Timestamps are Docker's fixed-width UTC RFC3339Nano (``2024-05-01T12:00:00.000000001Z``)
  and compare as strings. Each stream (of each Swarm task) is ordered and is a cursor of
  its own (:func:`~environments.live.sources.cursor_key`).
"""

from __future__ import annotations

import asyncio
import heapq
import json
import logging
import threading
import time
from collections.abc import Iterator

from environments import engine
from environments.live import hub as hub_base
from environments.live.hub import Reader, ReaderHub, close_quietly
from environments.live.lines import docker_since, iter_line_lists, normalize_ts
from environments.live.sources import ContainerSource, cursor_after, cursor_key

__all__ = [
    "Batch",
    "by_time",
    "ContainerSource",
    "LogHub",
    "Subscription",
    "hub",
    "normalize_ts",
    "read_backlog",
    "reader_count",
]

log = logging.getLogger(__name__)

STREAMS = ("stdout", "stderr")
BATCH_LINES = 500
BATCH_BYTES = 256 * 1024
FLUSH_SECONDS = 0.05
# Lines for idle viewers go at once, but not more often than this: a fast writer's
# lines then go a few milliseconds' worth at a time, not one message per line.
IDLE_GAP_SECONDS = 0.004
PENDING_LINES = 20 * BATCH_LINES  # reader threads wait for the loop beyond this
QUEUE_BATCHES = 64  # per subscriber: at most 64 x 256 KiB, shared with the others
LIVE_TAIL = 200  # a new reader re-reads these lines, so its start can leave no gap
MAX_TAIL = 10_000


class Batch:
    """Lines handed to subscribers at once; encoded to JSON once for all of them."""

    __slots__ = ("lines", "first", "last", "size", "_json")

    def __init__(self, lines: list[dict]):
        self.lines = lines
        self.first: dict[str, str] = {}
        self.last: dict[str, str] = {}
        self.size = 0
        for line in lines:
            key = cursor_key(line)
            self.first.setdefault(key, line["ts"])
            self.last[key] = max(line["ts"], self.last.get(key, ""))
            self.size += len(line["text"]) + 64
        self._json: str | None = None

    def json(self) -> str:
        if self._json is None:
            self._json = json.dumps(self.lines, ensure_ascii=False, separators=(",", ":"))
        return self._json

    def newer_than(self, cursors: dict[str, str]) -> list[dict] | None:
        """The lines newer than ``cursors`` (last ts per cursor key), or None when all are."""
        if all(ts > cursor_after(cursors, key) for key, ts in self.first.items()):
            return None
        return [line for line in self.lines if line["ts"] > cursor_after(cursors, cursor_key(line))]


def by_time(line: dict) -> str:
    """Sort key of lines: their timestamp (fixed width, so strings compare as times)."""
    return line["ts"]


def batches(lines: list[dict]) -> Iterator[Batch]:
    start, size = 0, 0
    for index, line in enumerate(lines):
        size += len(line["text"]) + 64
        if index + 1 - start >= BATCH_LINES or size >= BATCH_BYTES:
            yield Batch(lines[start : index + 1])
            start, size = index + 1, 0
    if start < len(lines):
        yield Batch(lines[start:])


class Subscription(hub_base.Subscription):
    """One viewer: a bounded queue of batches, then an ``end`` or ``error`` message.
    A full queue drops its oldest batch (end/error always come last) and the viewer is
    told the range of the lost lines."""

    def __init__(self, reader: _Reader):
        super().__init__(reader, QUEUE_BATCHES)
        self.skipped: dict | None = None
        self.waiting = False  # the viewer waits for lines and has none queued
        self._final: dict | None = None  # end/error met by take_ready, for the next get

    @property
    def ready(self) -> asyncio.Future:
        """Done once the live streams are open (or failed): read the backlog after it."""
        return self.reader.ready

    @property
    def behind(self) -> bool:
        return self.queue.qsize() >= QUEUE_BATCHES // 2

    def dropped(self, item: Batch) -> None:
        skipped = self.skipped or {"count": 0, "since": min(item.first.values())}
        skipped["count"] += len(item.lines)
        skipped["until"] = max([skipped.get("until", ""), *item.last.values()])
        self.skipped = skipped

    def offer(self, item) -> None:
        self.waiting = False
        super().offer(item)

    async def get(self) -> tuple[dict | None, Batch | dict]:
        """(what was skipped just before, if anything; the next batch or final message)."""
        if self._final is not None:
            return None, self._final
        if self.queue.empty():
            self.waiting = True
            self.reader.viewer_waiting()  # lines held back for a busy viewer go now
            try:
                item = await self.queue.get()
            finally:
                self.waiting = False
        else:
            item = self.queue.get_nowait()
        skipped, self.skipped = self.skipped, None
        self._rebalance()
        return skipped, item

    def take_ready(self, lines: int, size: int) -> list[Batch]:
        """The batches already queued behind one just taken, without waiting, while they
        hold fewer than ``lines`` lines and ``size`` bytes together: what piled up while
        the viewer was busy, to send as one message. An end or error message met here is
        kept for the next :meth:`get`."""
        taken: list[Batch] = []
        while lines > 0 and size > 0 and self._final is None and not self.queue.empty():
            item = self.queue.get_nowait()
            if not isinstance(item, Batch):
                self._final = item
                break
            taken.append(item)
            lines -= len(item.lines)
            size -= item.size
        if taken:
            self._rebalance()
        return taken

    def _rebalance(self) -> None:
        if self.reader.held and not self.behind:
            self.reader.balance()


class _Reader(Reader):
    """Follows both streams of one source; runs in its own threads."""

    def __init__(self, hub: LogHub, key, environment, source, loop):
        super().__init__(hub, key, environment, loop)
        self.source = source
        self.thread_name = f"berth-logs-{source.label}"
        self.ready: asyncio.Future = loop.create_future()
        self._cond = threading.Condition()
        self._pending: list[dict] = []
        self._pending_bytes = 0
        self._urgent = self._timer = self._stopping = False
        self._last_drain = 0.0
        self.held = False  # every subscriber is behind: the threads wait
        self.idle = False  # every subscriber waits for lines: hand each one over at once
        self._streams: list = []

    def stop(self) -> None:
        """Close the streams: unblocks and ends the threads. Never blocks."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._close_streams()

    def _close_streams(self) -> None:
        with self._cond:
            streams, self._streams = self._streams, []
        for stream in streams:
            close_quietly(stream)

    # --- the reader threads ---
    def _run(self) -> None:
        outcome = None
        try:
            with engine.open_client(self.environment, max_pool_size=4) as client:
                opened = []
                for name in STREAMS:
                    stream = self.source.open(client, name, follow=True, tail=LIVE_TAIL)
                    with self._cond:
                        self._streams.append(stream)
                        if self._stopping:
                            self.stop()
                            return
                    opened.append((name, stream))
                self._call(self._set_ready)
                helper = threading.Thread(
                    target=self._pump,
                    args=(*opened[1], client),
                    daemon=True,
                    name=f"berth-logs-{self.source.label}-stderr",
                )
                helper.start()
                self._pump(*opened[0], client)
                helper.join()
                if self._stopping:
                    return
                outcome = self.source.outcome(client)
        except engine.ContainerMissing:
            outcome = {"type": "end", "reason": "container removed"}
        except engine.EngineUnavailable as exc:
            outcome = {"type": "error", "message": str(exc)}
        except Exception:
            log.exception("Log reader of %s failed", self.source.label)
            outcome = {"type": "error", "message": "The log reader failed (see the server log)."}
        finally:
            self._close_streams()  # also when opening the second stream failed
            self._call(self._finish, outcome)

    def _pump(self, name: str, stream, client) -> None:
        line = self.source.line
        try:
            for lines in iter_line_lists(stream, self.source.framed):
                self._add([line(ts, name, text, client) for ts, text in lines])
        except Exception:  # noqa: BLE001 - a broken stream ends like a closed one
            if not self._stopping:
                log.warning("Log stream %s of %s broke", name, self.source.label, exc_info=True)

    def _add(self, lines: list[dict]) -> None:
        """Lines that arrived together (one read: at most 64 KiB of them)."""
        size = sum(len(line["text"]) for line in lines) + 64 * len(lines)
        with self._cond:
            while (len(self._pending) >= PENDING_LINES or self.held) and not self._stopping:
                self._cond.wait(timeout=1)
            if self._stopping:
                return
            self._pending.extend(lines)
            self._pending_bytes += size
            full = len(self._pending) >= BATCH_LINES or self._pending_bytes >= BATCH_BYTES
            since = time.monotonic() - self._last_drain
            window = IDLE_GAP_SECONDS if self.idle else FLUSH_SECONDS
            wait = window - since
            urgent = (full or wait <= 0) and not self._urgent
            timer = not urgent and not self._timer and not self._urgent
            self._urgent |= urgent
            self._timer |= timer
        if urgent:
            self._call(self._drain)
        elif timer:
            self._call(self.loop.call_later, wait, self._drain)

    # --- on the loop ---
    def _set_ready(self) -> None:
        if not self.ready.done():
            self.ready.set_result(None)

    def viewer_waiting(self) -> None:
        """On the loop: a subscriber waits for lines with none queued. Once every one
        does, lines go at once, and those held back meanwhile go now."""
        idle = bool(self.subscribers) and all(s.waiting for s in self.subscribers)
        self.idle = idle
        if idle and self._pending:
            wait = self._last_drain + IDLE_GAP_SECONDS - time.monotonic()
            if wait <= 0:
                self._drain()
            else:
                self.loop.call_later(wait, self._drain)

    def balance(self) -> None:
        """On the loop: hold the reader threads while every subscriber is behind."""
        held = bool(self.subscribers) and all(s.behind for s in self.subscribers)
        if held != self.held:
            with self._cond:
                self.held = held
                self._cond.notify_all()

    def _drain(self) -> None:
        with self._cond:
            lines, self._pending, self._pending_bytes = self._pending, [], 0
            self._urgent = self._timer = False
            self._last_drain = time.monotonic()
            self._cond.notify_all()
        if lines:
            self.idle = False  # until the subscribers have taken these and wait again
        for batch in batches(lines):
            for subscriber in list(self.subscribers):
                subscriber.offer(batch)
        if lines:
            self.balance()

    def _finish(self, outcome: dict | None) -> None:
        self._drain()
        super()._finish(outcome)
        self._set_ready()


class LogHub(ReaderHub):
    """The log readers of this process, by (endpoint, source kind, source id)."""

    def subscribe(self, environment, source) -> Subscription:
        """Follow ``source`` (a container dict is taken as its :class:`ContainerSource`)."""
        if isinstance(source, dict):
            source = ContainerSource(source)
        key = (environment.endpoint_url, source.kind, source.id)
        subscription = self._join(
            key, lambda loop: _Reader(self, key, environment, source, loop), Subscription
        )
        subscription.reader.balance()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        super().unsubscribe(subscription)
        if subscription.reader.subscribers:
            subscription.reader.balance()


hub = LogHub()


def reader_count() -> int:
    """Log readers open in this process (one per followed container or Swarm service)."""
    return hub.reader_count()


def read_backlog(
    environment, source, *, tail: int, cursors: dict[str, str]
) -> tuple[list[dict], list[dict], dict[str, str]]:
    """(lines newer than ``cursors``, notices, new cursors): the last ``tail`` lines of the
    log of ``source`` (a container dict is taken as its :class:`ContainerSource`), both
    streams merged in time order. Blocking: run it in a worker thread.

    Docker's ``tail`` counts the entries of the log, both streams together, before it
    filters by stream and by ``since``: the two requests return the same window. When
    the window is full, every stream's cursor is at least the window's start, so older
    lines re-read by a starting reader are not shown after the backlog; when it is not,
    the backlog holds the whole log and a stream without lines gets no cursor (its first
    line may be written between the two requests, before the other stream's). With
    ``tail == 0`` nothing is returned but the cursors move to now. When the window is full
    and still newer than ``since``, there may be more: a ``skipped`` notice (count unknown)
    names the range.
    """
    if isinstance(source, dict):
        source = ContainerSource(source)
    per_stream, cursors, raw_count, complete = {}, dict(cursors), 0, True
    asked = min(cursors.values(), default="")
    with engine.open_client(environment, max_pool_size=2) as client:
        for name in STREAMS:
            since = min(
                (ts for key, ts in cursors.items() if key.rpartition("/")[2] == name),
                default=None,
            )
            raw, whole = source.read(client, name, tail=max(tail, 1), since=docker_since(since))
            complete &= whole
            raw_count += len(raw)
            per_stream[name] = [
                line for line in raw if line["ts"] > cursor_after(cursors, cursor_key(line))
            ]
            per_stream[name].sort(key=by_time)  # Swarm tasks come interleaved
    lines = list(heapq.merge(*per_stream.values(), key=by_time))
    notices = []
    if lines:
        if tail and raw_count >= tail and cursors:
            notices.append({"type": "skipped", "count": None, "since": asked, "until": lines[0]["ts"]})  # fmt: skip
        if raw_count >= max(tail, 1):  # a full window: what the live reader re-reads
            for name in STREAMS:  # from before it must not come after the backlog
                cursors[name] = max(cursors.get(name, ""), lines[0]["ts"])
        for line in lines:  # per stream, and per Swarm task and stream
            key = cursor_key(line)
            cursors[key] = max(cursors.get(key, ""), line["ts"])
    if not complete:
        notices.append(
            {
                "type": "skipped",
                "count": None,
                "since": asked,
                "until": lines[0]["ts"] if lines else "",
                "message": "Docker did not finish sending the older lines of this Swarm "
                "service; some may be missing (reconnect to read them again).",
            }
        )
    return (lines if tail else []), notices, cursors
