"""``/ws/environments/changes/``: "something changed in this environment" (a promotion,
a push, a deployment finished) for every environment the user can view, so that the
board, the images, the services and the environment pages reload what they show.
The message names the environment and the kind, never what changed: the page asks the
server again through its own access path."""

from __future__ import annotations

from environments.consumers.base import BerthConsumer, visible_environments
from portal.core.errors import Forbidden
from portal.core.events import changes_group

__all__ = ["EnvironmentChangesConsumer"]


class EnvironmentChangesConsumer(BerthConsumer):
    """Joins the changes group of each visible environment and forwards its messages."""

    groups_joined: list[str] = []

    async def authorize(self, user) -> None:
        self.environments = {env.pk: env.slug for env in await visible_environments(user)}

    async def opened(self) -> None:
        self.groups_joined = [changes_group(pk) for pk in self.environments]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.send_json({"type": "snapshot", "environments": self.environments})

    async def recheck(self, user) -> None:
        visible = {env.pk for env in await visible_environments(user)}
        if not set(self.environments) <= visible:
            raise Forbidden("Access changed: reconnect for the environments you can see now.")

    async def closed(self) -> None:
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def environment_changed(self, event: dict) -> None:
        await self.send_json(
            {
                "type": "changed",
                "environment": self.environments.get(event["environment"], ""),
                "kind": event["kind"],
            }
        )
