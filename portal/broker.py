"""The embedded mode's broker: kombu's in-memory transport, woken when a task is queued.

kombu's memory transport has no way to wait for a message: an idle worker sleeps its
``polling_interval`` between looks, so every task waited half that on average before a
worker took it (25 ms at 50 ms), and each look cost CPU while nothing happened. Here a
queued message, and room made in the worker's prefetch window (an ack), wake the
waiting worker at once, and an idle worker looks only every ``polling_interval`` (a
safety net; nothing should need it).

The queues live in this process only, like the in-memory channel layer: one event for
the process is enough.
"""

from __future__ import annotations

import threading
from queue import Empty
from time import monotonic

from kombu.transport import memory

__all__ = ["Transport"]

_queued = threading.Event()


class Channel(memory.Channel):
    """Wakes the waiting worker when there is something new for it to take: a message
    queued, or room in its prefetch window (with acks late, a worker whose window is
    full takes nothing until a running task is acked, rejected or the window grows)."""

    def _put(self, queue, message, **kwargs):
        super()._put(queue, message, **kwargs)
        _queued.set()

    def _put_fanout(self, exchange, message, routing_key=None, **kwargs):
        super()._put_fanout(exchange, message, routing_key, **kwargs)
        _queued.set()

    def basic_ack(self, delivery_tag, multiple=False):
        super().basic_ack(delivery_tag, multiple)
        _queued.set()

    def basic_reject(self, delivery_tag, requeue=False):
        super().basic_reject(delivery_tag, requeue)
        _queued.set()

    def basic_qos(self, prefetch_size=0, prefetch_count=0, apply_global=False):
        super().basic_qos(prefetch_size, prefetch_count, apply_global)
        _queued.set()


class Transport(memory.Transport):
    Channel = Channel

    def drain_events(self, connection, timeout=None):
        """kombu's loop, waiting for a queued message instead of sleeping: the event is
        cleared before each look, so a message queued after the look still wakes it."""
        started = monotonic()
        while True:
            _queued.clear()
            try:
                self.cycle.get(self._deliver, timeout=timeout)
                return
            except Empty:
                waited = monotonic() - started
                if timeout is not None and waited >= timeout:
                    raise TimeoutError from None
                wait = self.polling_interval or 1.0
                if timeout is not None:
                    wait = min(wait, timeout - waited)
                _queued.wait(wait)
