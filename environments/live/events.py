"""Docker container events of an environment, one reader per environment per process.

The same pattern as the log hub (:mod:`environments.live.logs`): the first subscriber starts a
reader thread with a DockerClient of its own, the last one leaving closes its stream.
Each event is handed to the loop with ``call_soon_threadsafe`` into bounded per-subscriber
queues; a subscriber too slow to keep up loses the oldest events and is told
``{"type": "skipped", "count": N}`` (it should then reload its container list).
"""

from __future__ import annotations

import asyncio
import logging
import time

from environments import engine
from environments.live.hub import Reader, ReaderHub, Subscription

__all__ = ["ACTIONS", "EventHub", "event_hub", "event_message"]

log = logging.getLogger(__name__)

ACTIONS = ("create", "start", "die", "stop", "health_status", "destroy")
QUEUE_EVENTS = 256


def event_message(event: dict) -> dict:
    """A Docker event as the websocket sends it."""
    actor = event.get("Actor") or {}
    attributes = actor.get("Attributes") or {}
    action, _, health = (event.get("Action") or event.get("status") or "").partition(": ")
    nanos = int(event.get("timeNano") or int(event.get("time") or 0) * 10**9)
    message = {
        "action": action,
        "id": actor.get("ID") or event.get("id", ""),
        "name": attributes.get("name", ""),
        "image": attributes.get("image", ""),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(nanos // 10**9))
        + f".{nanos % 10**9:09d}Z",
    }
    if action == "health_status":
        message["health"] = health.strip()
    if action == "die":
        message["exit_code"] = int(attributes.get("exitCode") or 0)
    return {"type": "event", "event": message}


class EventSubscription(Subscription):
    """One viewer: a bounded queue of events; a full one drops the oldest and counts
    them, so the page knows to reload its container list."""

    def __init__(self, reader: _EventReader):
        super().__init__(reader, QUEUE_EVENTS)
        self.skipped = 0

    def dropped(self, item: dict) -> None:
        self.skipped += 1

    async def get(self) -> tuple[int, dict]:
        message = await self.queue.get()
        skipped, self.skipped = self.skipped, 0
        return skipped, message


class _EventReader(Reader):
    def __init__(self, hub: EventHub, environment, loop):
        super().__init__(hub, environment.pk, environment, loop)
        self.thread_name = f"berth-events-{environment.slug}"
        self.ready: asyncio.Future = loop.create_future()

    def _run(self) -> None:
        filters = {"type": ["container"], "event": list(ACTIONS)}
        if self.environment.only_labelled_containers:
            filters["label"] = [f"{engine.LABEL_ENVIRONMENT}={self.environment.slug}"]
        outcome = None
        try:
            with engine.open_client(self.environment, max_pool_size=2) as client:
                stream = engine.event_stream(client, filters)
                if not self._adopt(stream):
                    return
                self._call(self._set_ready)
                for event in stream:
                    self._call(self._dispatch, event_message(event))
            if not self._stopping:
                outcome = {"type": "error", "message": "The Docker event stream ended."}
        except engine.EngineUnavailable as exc:
            outcome = {"type": "error", "message": str(exc)}
        except Exception:
            log.exception("Event reader of %s failed", self.environment.slug)
            outcome = {"type": "error", "message": "The event reader failed (see the server log)."}
        finally:
            self.stop()
            self._call(self._finish, outcome)

    def _set_ready(self) -> None:
        if not self.ready.done():
            self.ready.set_result(None)

    def _finish(self, outcome: dict | None) -> None:
        super()._finish(outcome)
        self._set_ready()


class EventHub(ReaderHub):
    """Event readers of this process, by environment id."""

    def subscribe(self, environment) -> EventSubscription:
        return self._join(
            environment.pk,
            lambda loop: _EventReader(self, environment, loop),
            EventSubscription,
        )


event_hub = EventHub()
