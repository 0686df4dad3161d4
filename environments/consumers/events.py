"""``/ws/environments/<id>/events/``: the environment's container events, live."""

from __future__ import annotations

from environments.consumers.base import BerthConsumer, get_environment
from environments.live.events import event_hub
from environments.roles import VIEW

__all__ = ["EnvironmentEventsConsumer"]


class EnvironmentEventsConsumer(BerthConsumer):
    """``/ws/environments/<id>/events/``: Docker events (create, start, die, stop,
    health_status, destroy) of the environment's containers, for anyone who can view it.

    ``{"type": "ready"}`` once the engine's event stream is open, then
    ``{"type": "event", "event": {"action", "id", "name", "image", "time", "exit_code"?,
    "health"?}}``; ``{"type": "skipped", "count": N}`` when this client fell behind (reload
    the container list); ``{"type": "error", "message"}`` and close when the stream ends.
    One event reader per environment per process (:mod:`environments.live.events`).
    """

    subscription = None

    async def authorize(self, user, environment_id: int) -> None:
        self.environment = await get_environment(user, VIEW, pk=environment_id)

    async def opened(self) -> None:
        self.subscription = event_hub.subscribe(self.environment)
        self.start_task(self._pump())

    async def closed(self) -> None:
        if self.subscription is not None:
            event_hub.unsubscribe(self.subscription)
            self.subscription = None

    async def _pump(self) -> None:
        subscription = self.subscription
        await subscription.reader.ready
        if not subscription.reader.finished:
            await self.send_json({"type": "ready"})
        while True:
            skipped, message = await subscription.get()
            if skipped:
                await self.send_json({"type": "skipped", "count": skipped})
            await self.send_json(message)
            if message["type"] != "event":
                await self.close()
                return
