"""Shared readers: one Docker stream per followed thing per server process.

Logs (:mod:`environments.live.logs`), stats (:mod:`environments.live.stats`) and events
(:mod:`environments.live.events`) each keep a :class:`ReaderHub` of readers by key.
The first subscriber starts a reader; the last one to leave stops it (its sockets are
shut, its threads end). A reader has ``key``, ``loop``, ``subscribers``, ``finished``,
``start()`` and ``stop()``; a subscription has ``reader``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Hashable

__all__ = ["Reader", "ReaderHub", "Subscription", "close_quietly"]

log = logging.getLogger(__name__)


def close_quietly(stream) -> None:
    """Close a Docker stream from any thread (a blocked reader of it wakes up)."""
    try:
        stream.close()
    except Exception:  # noqa: BLE001 - already closed or never connected
        log.debug("closing a stream failed", exc_info=True)


class Reader:
    """What every hub reader has: runs ``_run`` in a thread named ``thread_name`` and
    hands results to its loop with :meth:`_call`. Subclasses define ``_run``; one that
    follows a single Docker stream hands it to :meth:`_adopt`, so :meth:`stop` can close
    it (one with more streams overrides ``stop``, which never blocks)."""

    thread_name = "berth-reader"

    def __init__(self, hub: ReaderHub, key: Hashable, environment, loop):
        self.hub, self.key, self.environment, self.loop = hub, key, environment, loop
        self.subscribers: set = set()
        self.finished = False
        self._lock = threading.Lock()
        self._stream = None
        self._stopping = False

    def start(self) -> None:
        threading.Thread(target=self._run, name=self.thread_name, daemon=True).start()

    def _run(self) -> None:
        raise NotImplementedError

    def _adopt(self, stream) -> bool:
        """From the reader thread: keep ``stream`` for :meth:`stop`; False (and the stream
        closed) when the reader was stopped while it was being opened."""
        with self._lock:
            if not self._stopping:
                self._stream = stream
                return True
        close_quietly(stream)
        return False

    def stop(self) -> None:
        """Close the stream: unblocks and ends the thread. Never blocks."""
        with self._lock:
            self._stopping = True
            stream, self._stream = self._stream, None
        if stream is not None:
            close_quietly(stream)

    def _call(self, callback, *args) -> None:
        """From a reader thread: ``callback(*args)`` on the loop."""
        try:
            self.loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            self.stop()

    # --- on the loop ---
    def _dispatch(self, item) -> None:
        """Offer ``item`` to every subscriber (each drops its oldest when full)."""
        for subscriber in list(self.subscribers):
            subscriber.offer(item)

    def _finish(self, outcome: dict | None) -> None:
        """The reader ended: forgotten by its hub, the final ``end`` / ``error`` message
        (if any) offered to every subscriber."""
        self.finished = True
        self.hub._forget(self)
        if outcome is not None:
            self._dispatch(outcome)


class Subscription:
    """One viewer of a reader: a bounded queue on the loop that never blocks the reader.

    A full queue drops its oldest item (the viewer is too slow) and hands it to
    :meth:`dropped`, where a subclass keeps what the viewer must be told (the range of
    log lines lost, a count of events); the newest items are what a live page needs.
    """

    def __init__(self, reader, size: int):
        self.reader = reader
        self.queue: asyncio.Queue = asyncio.Queue(size)

    def offer(self, item) -> None:
        """On the loop: queue ``item``, dropping the oldest while the queue is full."""
        while self.queue.full():
            self.dropped(self.queue.get_nowait())
        self.queue.put_nowait(item)

    def dropped(self, item) -> None:
        """An item the viewer will not get; nothing to remember by default."""


class ReaderHub:
    """Readers of this process by key. Loop thread only."""

    def __init__(self):
        self._readers: dict[Hashable, object] = {}

    def _join(self, key: Hashable, new_reader: Callable, new_subscription: Callable):
        """A subscription to the reader of ``key``; ``new_reader(loop)`` makes one when
        there is none (or it belongs to a closed loop, as between tests)."""
        loop = asyncio.get_running_loop()
        reader = self._readers.get(key)
        if reader is not None and reader.loop is not loop:
            reader.stop()
            reader = None
        if reader is None:
            reader = self._readers[key] = new_reader(loop)
            reader.start()
        subscription = new_subscription(reader)
        reader.subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription) -> None:
        """Stop following; the last subscriber leaving stops the reader."""
        reader = subscription.reader
        reader.subscribers.discard(subscription)
        if not reader.subscribers and not reader.finished:
            reader.stop()
            self._forget(reader)

    def _forget(self, reader) -> None:
        if self._readers.get(reader.key) is reader:
            del self._readers[reader.key]

    def reader_count(self) -> int:
        return len(self._readers)
