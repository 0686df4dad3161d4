"""Websocket consumers of the environments app."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from environments.actions import status_group
from environments.models import Environment


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
