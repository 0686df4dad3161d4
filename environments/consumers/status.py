"""``/ws/environments/status/``: the endpoint state of every environment the user can
view, as a snapshot on connect and then each new probe result."""

from __future__ import annotations

from environments.consumers.base import BerthConsumer, visible_environments
from portal.core.errors import Forbidden
from portal.core.events import status_group

__all__ = ["EndpointStatusConsumer"]


class EndpointStatusConsumer(BerthConsumer):
    """A snapshot of the visible environments' endpoint state, then each change."""

    groups_joined: list[str] = []

    async def authorize(self, user) -> None:
        self.snapshot = {env.pk: env.endpoint_state for env in await visible_environments(user)}

    async def opened(self) -> None:
        self.groups_joined = [status_group(pk) for pk in self.snapshot]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.send_json({"type": "snapshot", "environments": self.snapshot})

    async def recheck(self, user) -> None:
        visible = {env.pk for env in await visible_environments(user)}
        if not set(self.snapshot) <= visible:
            raise Forbidden("Access changed: reconnect for the environments you can see now.")

    async def closed(self) -> None:
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def endpoint_state(self, event: dict) -> None:
        await self.send_json(
            {"type": "state", "environment": event["environment"], "state": event["state"]}
        )
