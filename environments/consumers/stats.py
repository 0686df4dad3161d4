"""``/ws/containers/<container_id>/stats/``: live CPU, memory, network, block I/O and pids
of one container, for anyone who can view an environment that owns it.

* Server → client, about once a second: ``{"type": "stats", "ts", "cpu_percent",
  "memory_bytes", "memory_limit", "memory_percent", "net_rx_bytes", "net_tx_bytes",
  "net_rx_rate", "net_tx_rate", "blk_read_bytes", "blk_write_bytes", "pids"}`` (see
  :func:`environments.live.stats.stats_message`); ``{"type": "end", "reason": "container exited
  (code N)"}`` (or ``container is not running`` at connect, ``container removed``) or
  ``{"type": "error", "message"}``, then the server closes.
* Refusal close codes (right after accept), as for logs: 4401 not signed in, 4404 no such container in an
  environment the user can view, 4503 the engine could not be asked.
* One Docker reader per container per process (:mod:`environments.live.stats`), shared by all
  viewers.
"""

from __future__ import annotations

import logging

from environments.consumers.base import BerthConsumer, locate_container
from environments.live import stats
from environments.roles import VIEW

__all__ = ["ContainerStatsConsumer"]

log = logging.getLogger(__name__)

RUNNING = ("running", "paused")


class ContainerStatsConsumer(BerthConsumer):
    """Forwards the process's shared stats reader of one container to one viewer."""

    subscription: stats.StatsSubscription | None = None

    async def authorize(self, user, container_id: str) -> None:
        self.environment, self.container = await locate_container(user, container_id, VIEW)

    async def opened(self) -> None:
        if self.container["state"] not in RUNNING:
            await self.send_json({"type": "end", "reason": "container is not running"})
            await self.close()
            return
        self.subscription = stats.hub.subscribe(self.environment, self.container["id"])
        self.start_task(self._pump())

    async def closed(self) -> None:
        if self.subscription is not None:
            stats.hub.unsubscribe(self.subscription)
            self.subscription = None

    async def _pump(self) -> None:
        while True:
            message = await self.subscription.get()
            await self.send_json(message)
            if message["type"] != "stats":
                await self.close()
                return
