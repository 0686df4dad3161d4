"""Sending events to websocket groups once the database change that caused them is committed."""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

__all__ = ["broadcast_on_commit", "send_now"]

log = logging.getLogger(__name__)


def send_now(group: str, message: dict) -> None:
    """Send ``message`` to ``group``. The channel layer is at-most-once, so a lost message
    only delays a page: the state itself lives in the database and is replayed on connect."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, message)
    except Exception:  # noqa: BLE001 - a websocket hiccup must never fail the state change
        log.exception("Could not send %s to group %s", message.get("type"), group)


def broadcast_on_commit(group: str, message: dict) -> None:
    """Send after the surrounding transaction commits (immediately outside one)."""
    transaction.on_commit(lambda: send_now(group, message))
