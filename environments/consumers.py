"""Websocket consumers of the environments app."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from environments.actions import status_group
from environments.deployments import deployment_group
from environments.models import Deployment, Environment


class EndpointStatusConsumer(AsyncJsonWebsocketConsumer):
    """``/ws/environments/status/``: the endpoint state of every environment the user can
    view, as a snapshot on connect and then each new probe result."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.snapshot = await self._visible(user)
        self.groups_joined = [status_group(pk) for pk in self.snapshot]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "snapshot", "environments": self.snapshot})

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def endpoint_state(self, event: dict) -> None:
        await self.send_json(
            {"type": "state", "environment": event["environment"], "state": event["state"]}
        )

    @database_sync_to_async
    def _visible(self, user) -> dict[int, dict]:
        return {
            env.pk: env.endpoint_state
            for env in Environment.objects.restrict(user, "view_environment")
        }


class DeploymentProgressConsumer(AsyncJsonWebsocketConsumer):
    """``/ws/deployments/<id>/``: the deployment's state and every event so far, then each
    new event. The group is joined before the history is read, and events carry a
    sequence number, so a client connecting mid-way misses nothing and sees nothing twice."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        deployment_id = self.scope["url_route"]["kwargs"]["deployment_id"]
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        if not await self._visible(user, deployment_id):
            await self.close(code=4404)
            return
        self.group = deployment_group(deployment_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        snapshot = await self._snapshot(deployment_id)
        self.last_seq = snapshot["events"][-1]["seq"] if snapshot["events"] else 0
        await self.send_json({"type": "snapshot", **snapshot})

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def deployment_event(self, message: dict) -> None:
        event = message["event"]
        if event["seq"] <= self.last_seq:
            return  # already in the snapshot
        self.last_seq = event["seq"]
        await self.send_json({"type": "event", "event": event, "progress": message.get("progress")})

    @database_sync_to_async
    def _visible(self, user, deployment_id: int) -> bool:
        return Deployment.objects.restrict(user).filter(pk=deployment_id).exists()

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
