"""Merged logs of a service in one environment: ``/ws/services/<id>/environments/<id>/logs/``.

Needs ``view_logs`` in the environment (4404 at once otherwise, as for an unknown
service or environment). Query: ``tail`` (per replica, default 500) and ``since`` as for
a container's log (:func:`environments.consumers.container_logs.parse_log_options`).

* **Swarm**: when the environment runs the service as a Swarm service
  (``<service>-<environment>``), one reader follows ``docker service logs`` and every
  line carries ``replica`` (``<swarm service>.<slot>``). The tasks may live on any node.
* **Standalone**: every container of the service is followed through the log hub (the
  same shared reader a container's own viewers use). ``lines`` messages carry the
  replica (the container name) at message level, ``{"type": "lines", "seq", "replica",
  "lines"}``, so a batch is still encoded once for all its viewers; backlog lines carry
  it per line. Replicas that start later (a deployment, a restart) join the stream
  (from the environment's Docker events); one that ends is announced and the others go
  on. ``{"type": "replica", "replica": name, "state": "started" | "ended", "reason"?}``.

First message after accept: ``{"type": "replicas", "mode": "swarm" | "containers",
"replicas": [names]}``; then the backlog, ``{"type": "live"}``, live lines, and for Swarm
an ``end``/``error``. Resume with ``since=<the oldest of the last timestamps held per
replica and stream>`` and drop lines not newer than what is held for their replica and
stream: no gap and no duplicate.
"""

from __future__ import annotations

import asyncio
import heapq
import logging

from environments import engine
from environments.consumers.base import get_environment, get_service
from environments.consumers.container_logs import LogSocket
from environments.live import logs
from environments.live.events import event_hub
from environments.live.io import run_io
from environments.live.sources import SwarmServiceSource
from environments.roles import LOGS

__all__ = ["ServiceLogConsumer"]

log = logging.getLogger(__name__)


class ServiceLogConsumer(LogSocket):
    """Every replica of a service in an environment, merged; each line names its replica."""

    subscriptions: dict[str, logs.Subscription]
    events = None

    async def authorize(self, user, service_id: int, environment_id: int) -> None:
        self.parse_options()
        self.environment = await get_environment(user, LOGS, pk=environment_id)
        self.service = await get_service(user, LOGS, pk=service_id)
        self.swarm = await run_io(
            engine.find_swarm_service,
            self.environment,
            engine.swarm_service_name(self.service, self.environment),
            self.service.name,
        )

    async def opened(self) -> None:
        self.subscriptions = {}
        self.cursors: dict[str, dict] = {}  # per container id, kept when a replica ends
        self.start_flow()
        self.start_task(self._follow_swarm(self.swarm) if self.swarm else self._follow_containers())

    async def closed(self) -> None:
        for subscription in getattr(self, "subscriptions", {}).values():  # none if refused
            logs.hub.unsubscribe(subscription)
        self.subscriptions = {}
        if self.events is not None:
            event_hub.unsubscribe(self.events)
            self.events = None

    async def _guarded(self, pump) -> None:
        """Run ``pump()``; engine errors end the socket with a message a person can act
        on. The coroutine is made here, so a task cancelled before it starts leaves none
        behind un-awaited."""
        try:
            await pump()
        except engine.EngineUnavailable as exc:
            await self._finish({"type": "error", "message": str(exc)})
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("Service log stream of %s failed", self.service)
            await self._finish({"type": "error", "message": "The log stream failed."})

    # --- Swarm: one reader of `docker service logs` ---
    async def _follow_swarm(self, name: str) -> None:
        async def run():
            subscription = self.subscriptions[name] = logs.hub.subscribe(
                self.environment, SwarmServiceSource(name)
            )
            await self.send_json({"type": "replicas", "mode": "swarm", "replicas": []})
            await subscription.ready
            cursors = await self.send_backlog(
                self.environment, subscription.reader.source, **self.options
            )
            await self.send_json({"type": "live"})
            await self._finish(await self.follow(subscription, cursors))

        await self._guarded(run)

    # --- standalone: one hub reader per container, joined as replicas come and go ---
    async def _follow_containers(self) -> None:
        async def run():
            # Events first: a replica starting while the list is read is not missed.
            self.events = event_hub.subscribe(self.environment)
            await self.events.reader.ready
            containers = await run_io(
                engine.service_containers, self.environment, self.service.name
            )
            await self.send_json(
                {
                    "type": "replicas",
                    "mode": "containers",
                    "replicas": [container["name"] for container in containers],
                }
            )
            backlogs = []
            for container in containers:
                subscription = self._subscribe(container)
                await subscription.ready
                backlogs.append(await self._backlog(container))
            merged = list(heapq.merge(*(lines for lines, _ in backlogs), key=logs.by_time))
            if self.options["tail"]:
                merged = merged[-self.options["tail"] :]
            for batch in logs.batches(merged):
                await self._send_lines(batch.json())
            await self.send_json({"type": "live"})
            for container, (_, cursors) in zip(containers, backlogs, strict=True):
                self._start_replica(container, cursors)
            await self._watch_events()

        await self._guarded(run)

    def _subscribe(self, container: dict) -> logs.Subscription:
        subscription = logs.hub.subscribe(self.environment, container)
        self.subscriptions[container["id"]] = subscription
        return subscription

    def _client_cursors(self, container: dict) -> dict:
        """The client's cursors for one container: ``<name>/<stream>``, else ``since``."""
        given = self.options["cursors"]
        return {
            stream: given[key]
            for stream in logs.STREAMS
            for key in (f"{container['name']}/{stream}", stream)
            if key in given
        }

    async def _backlog(self, container: dict, *, cursors: dict | None = None):
        lines, _, cursors = await run_io(
            logs.read_backlog,
            self.environment,
            container,
            tail=self.options["tail"] if cursors is None else logs.MAX_TAIL,
            cursors=self._client_cursors(container) if cursors is None else cursors,
        )
        for line in lines:
            line["replica"] = container["name"]
        return lines, cursors

    def _start_replica(self, container: dict, cursors: dict) -> None:
        self.start_task(self._guarded(lambda: self._replica(container, cursors)))

    async def _replica(self, container: dict, cursors: dict) -> None:
        self.cursors[container["id"]] = cursors  # updated in place by follow()
        subscription = self.subscriptions[container["id"]]
        outcome = await self.follow(subscription, cursors, replica=container["name"])
        logs.hub.unsubscribe(subscription)
        self.subscriptions.pop(container["id"], None)
        await self.send_json(
            {
                "type": "replica",
                "replica": container["name"],
                "state": "ended",
                "reason": outcome.get("reason") or outcome.get("message", ""),
            }
        )

    async def _watch_events(self) -> None:
        """Replicas that start from now on join the stream, from their first line."""
        while True:
            _, message = await self.events.get()
            if message["type"] != "event":  # the engine's event stream ended
                await self._finish(message)
                return
            event = message["event"]
            if event["action"] != "start" or event["id"] in self.subscriptions:
                continue
            container = await run_io(engine.find_container, self.environment, event["id"])
            if (
                container is None
                or container["labels"].get(engine.LABEL_SERVICE) != self.service.name
            ):
                continue
            subscription = self._subscribe(container)
            await subscription.ready
            # A restarted replica goes on after its last line; a new one from its first.
            lines, cursors = await self._backlog(
                container, cursors=dict(self.cursors.get(container["id"], {}))
            )
            await self.send_json(
                {"type": "replica", "replica": container["name"], "state": "started"}
            )
            for batch in logs.batches(lines):
                await self._send_lines(batch.json())
            self._start_replica(container, cursors)
