"""Channels' test communicator, reading a refusal as Berth's sockets make it.

A Berth socket refuses by accepting the handshake and closing at once with a code
(``environments.consumers.base``), so that clients can read the code. ``connect()`` here
reports that as ``(False, code)``, just as it reports a handshake refusal, and keeps any
other first message for the next ``receive_*`` call.
"""

from __future__ import annotations

from channels.testing import WebsocketCommunicator as ChannelsCommunicator

__all__ = ["WebsocketCommunicator"]

# A refusal's close follows the accept in the same coroutine, with no I/O between.
REFUSAL_WINDOW = 0.15


class WebsocketCommunicator(ChannelsCommunicator):
    """``connect()`` gives ``(False, code)`` for a refusal after accept too."""

    _held: dict | None = None

    async def connect(self, timeout=1):
        connected, subprotocol = await super().connect(timeout)
        if not connected:
            return connected, subprotocol
        if await self.receive_nothing(REFUSAL_WINDOW, interval=0.01):
            return True, subprotocol
        message = await super().receive_output(timeout)
        if message["type"] == "websocket.close":
            return False, message.get("code")
        self._held = message
        return True, subprotocol

    async def receive_output(self, timeout=1):
        if self._held is not None:
            held, self._held = self._held, None
            return held
        return await super().receive_output(timeout)

    async def receive_nothing(self, timeout=0.1, interval=0.01):
        if self._held is not None:
            return False
        return await super().receive_nothing(timeout, interval)
