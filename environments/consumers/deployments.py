"""``/ws/deployments/<id>/``: a deployment's progress, replayable to a late viewer."""

from __future__ import annotations

from channels.db import database_sync_to_async

from environments.consumers.base import BerthConsumer, get_deployment
from environments.models import Deployment
from portal.core.events import deployment_group

__all__ = ["DeploymentProgressConsumer"]


class DeploymentProgressConsumer(BerthConsumer):
    """The deployment's state and every event so far, then each new event. The group is
    joined before the history is read, and events carry a sequence number, so a client
    connecting mid-way misses nothing and sees nothing twice."""

    group = ""
    last_seq = 0

    async def authorize(self, user, deployment_id: int) -> None:
        self.deployment = await get_deployment(user, pk=deployment_id)

    async def opened(self) -> None:
        self.group = deployment_group(self.deployment.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        snapshot = await self._snapshot(self.deployment.pk)
        self.last_seq = snapshot["events"][-1]["seq"] if snapshot["events"] else 0
        await self.send_json({"type": "snapshot", **snapshot})

    async def closed(self) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def deployment_event(self, message: dict) -> None:
        event = message["event"]
        if event["seq"] <= self.last_seq:
            return  # already in the snapshot
        self.last_seq = event["seq"]
        await self.send_json({"type": "event", "event": event, "progress": message.get("progress")})

    @database_sync_to_async
    def _snapshot(self, deployment_id: int) -> dict:
        deployment = Deployment.objects.get(pk=deployment_id)
        return {
            "deployment": deployment.pk,
            "status": deployment.status,
            "progress": deployment.progress,
            "reason": deployment.reason,
            "events": [event.as_message() for event in deployment.events.order_by("seq")],
        }
