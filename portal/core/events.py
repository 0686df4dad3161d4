"""Sending events to websocket groups once the database change that caused them is committed.

With the in-memory channel layer (embedded mode) the layer's queues belong to the
server's event loop, and a worker thread calling ``async_to_sync(group_send)`` would
touch them from another loop: consumers would never wake up. So the ASGI app records
its loop (:func:`track_server_loop`) and sends from other threads are handed to it.
With channels_redis any loop may send.
"""

from __future__ import annotations

import asyncio
import logging
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


def send_now(group: str, message: dict) -> None:
    """Send ``message`` to ``group``. The channel layer is at-most-once, so a lost message
    only delays a page: the state itself lives in the database and is replayed on connect."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        loop = _server_loop
        if isinstance(layer, InMemoryChannelLayer) and loop is not None and loop.is_running():
            # Handed to the server's loop, not waited for: the thread that changed the
            # state (a request, a deployment) goes on at once. The loop runs what it is
            # handed in order, so one thread's events still arrive in the order sent.
            future = asyncio.run_coroutine_threadsafe(layer.group_send(group, message), loop)
            future.add_done_callback(partial(_log_failure, group, message.get("type")))
        else:
            async_to_sync(layer.group_send)(group, message)
    except Exception:  # noqa: BLE001 - a websocket hiccup must never fail the state change
        log.exception("Could not send %s to group %s", message.get("type"), group)


def _log_failure(group: str, kind, future) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("Could not send %s to group %s: %s", kind, group, future.exception())


def broadcast_on_commit(group: str, message: dict) -> None:
    """Send after the surrounding transaction commits (immediately outside one)."""
    transaction.on_commit(lambda: send_now(group, message))
