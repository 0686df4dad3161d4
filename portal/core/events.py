"""Sending events to websocket groups once the database change that caused them is committed.

A send never makes the thread that changed the state (a request, a task) wait: it is
handed to an event loop that sends in the order handed.

- With the in-memory channel layer (embedded mode) the layer's queues belong to the
  server's event loop, and a worker thread calling ``async_to_sync(group_send)`` would
  touch them from another loop: consumers would never wake up. So the ASGI app records
  its loop (:func:`track_server_loop`) and sends from other threads are handed to it.
- With channels_redis, sends go to one loop of the process's own
  (:class:`_Sender`), which keeps its Redis connections. ``async_to_sync`` per send
  would start a loop and open a new Redis connection every time: about 5 ms per event
  in the request's thread, against 0.7 ms on a kept loop (measured on 2 CPUs).

The channel layer is at-most-once: a lost message only delays a page, since the state
lives in the database and is replayed on connect. So a send that fails or takes longer
than :data:`SEND_TIMEOUT` is logged and dropped, as is one past :data:`MAX_PENDING`
waiting sends (a layer that is down must not grow the process's memory).
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading
from functools import partial

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import transaction

__all__ = [
    "broadcast_on_commit",
    "changes_group",
    "notify_changed",
    "deployment_group",
    "notify_access_changed",
    "send_now",
    "status_group",
    "track_server_loop",
    "user_group",
]

log = logging.getLogger(__name__)


def status_group(environment_id: int) -> str:
    """Websocket group that receives an environment's endpoint state."""
    return f"environment.{environment_id}.status"


def changes_group(environment_id: int) -> str:
    """Websocket group told that something shown about an environment changed (a
    promotion, a push, a deployment finished): live pages reload their parts."""
    return f"environment.{environment_id}.changes"


def notify_changed(environment_ids, kind: str) -> None:
    """After commit, tell the pages of these environments that ``kind`` happened."""
    for environment_id in set(environment_ids):
        broadcast_on_commit(
            changes_group(environment_id),
            {"type": "environment.changed", "environment": environment_id, "kind": kind},
        )


def deployment_group(deployment_id: int) -> str:
    """Websocket group that receives a deployment's progress events."""
    return f"deployment.{deployment_id}"


def user_group(user_id: int) -> str:
    """Websocket group of every open socket of one user: told when their access changes."""
    return f"user.{user_id}"


def notify_access_changed(user_ids) -> None:
    """After commit, tell the open sockets of these users to check their access again
    (a grant revoked, the account deactivated, the password changed)."""
    for user_id in set(user_ids):
        broadcast_on_commit(user_group(user_id), {"type": "access.changed"})


_server_loop: asyncio.AbstractEventLoop | None = None


def track_server_loop(app):
    """ASGI wrapper remembering the loop that serves consumers."""

    async def tracked(scope, receive, send):
        global _server_loop
        _server_loop = asyncio.get_running_loop()
        return await app(scope, receive, send)

    return tracked


SEND_TIMEOUT = 5.0  # seconds one send may take before it is dropped
MAX_PENDING = 10_000  # sends waiting in one process before new ones are dropped


def send_now(group: str, message: dict) -> None:
    """Hand ``message`` for ``group`` to the loop that sends it (see the module's
    docstring); returns at once."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        if not isinstance(layer, InMemoryChannelLayer):
            _sender_for(layer).send(group, message)
            return
        loop = _server_loop
        if loop is not None and loop.is_running():
            # The loop runs what it is handed in order, so one thread's events still
            # arrive in the order sent.
            future = asyncio.run_coroutine_threadsafe(layer.group_send(group, message), loop)
            future.add_done_callback(partial(_log_failure, group, message.get("type")))
        else:  # no server in this process (a test, a command): its consumers share our loop
            async_to_sync(layer.group_send)(group, message)
    except Exception:  # noqa: BLE001 - a websocket hiccup must never fail the state change
        log.exception("Could not send %s to group %s", message.get("type"), group)


class _Sender:
    """One thread running an event loop that sends to ``layer``, one message at a time
    in the order handed (so one thread's events arrive in the order sent)."""

    def __init__(self, layer):
        self.layer = layer
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=MAX_PENDING)
        self.thread = threading.Thread(target=self._run, name="berth-events", daemon=True)
        self.thread.start()

    def send(self, group: str, message: dict) -> None:
        self.loop.call_soon_threadsafe(self._enqueue, group, message)

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the sends handed so far; whether all ended."""
        waiting = asyncio.run_coroutine_threadsafe(self.queue.join(), self.loop)
        try:
            waiting.result(timeout)
        except TimeoutError:
            waiting.cancel()
            return False
        return True

    def _enqueue(self, group: str, message: dict) -> None:
        try:
            self.queue.put_nowait((group, message))
        except asyncio.QueueFull:
            log.warning(
                "Dropped %s to group %s: %d sends already waiting for the channel layer",
                message.get("type"), group, MAX_PENDING,
            )  # fmt: skip

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._drain())

    async def _drain(self) -> None:
        while True:
            group, message = await self.queue.get()
            try:
                await asyncio.wait_for(self.layer.group_send(group, message), SEND_TIMEOUT)
            except Exception as exc:  # noqa: BLE001 - logged and dropped: at-most-once
                log.error("Could not send %s to group %s: %r", message.get("type"), group, exc)
            finally:
                self.queue.task_done()


_sender: _Sender | None = None
_sender_lock = threading.Lock()


def _sender_for(layer) -> _Sender:
    """This process's sender for ``layer``: a forked child (a prefork worker) or another
    layer (settings changed in a test) gets a new one."""
    global _sender
    sender = _sender
    if sender is None or sender.layer is not layer or sender.pid != os.getpid():
        with _sender_lock:
            sender = _sender
            if sender is None or sender.layer is not layer or sender.pid != os.getpid():
                sender = _sender = _Sender(layer)
    return sender


@atexit.register
def _flush_at_exit() -> None:
    """A process ending (a command, a worker shutting down) sends what it handed over,
    waiting at most two seconds."""
    sender = _sender
    if sender is not None and sender.pid == os.getpid():
        sender.flush(timeout=2.0)


def _log_failure(group: str, kind, future) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("Could not send %s to group %s: %s", kind, group, future.exception())


def broadcast_on_commit(group: str, message: dict) -> None:
    """Send after the surrounding transaction commits (immediately outside one)."""
    transaction.on_commit(lambda: send_now(group, message))
