"""The base of every Berth websocket: sign-in, authorization and refusal in one place.

A socket subclasses :class:`BerthConsumer` and implements :meth:`authorize`, which asks
:mod:`environments.access` (never a model manager directly) for what the URL names and
raises the core domain errors. The base maps them to close codes before accept:

* 4401 not signed in (or the account is inactive);
* 4404 no such object in an environment the user can view (whether it exists or not);
* 4403 visible, but the action is missing there;
* 4400 bad parameters (``ValueError``);
* 4503 the engine needed to find the object could not be asked.

(Through Daphne any refusal before accept is an HTTP 403 answer to the handshake: a
browser sees a failed connection, not the code.) After accept, :meth:`opened` runs;
tasks started with :meth:`start_task` are cancelled when the socket closes.

Access is checked again whenever it may have changed (a grant given or revoked, the
account deactivated, the password changed: ``access.changed`` on the user's group): the
credentials are re-read and :meth:`recheck` runs, and a socket that would now be
refused is closed with the code it would get.
"""

from __future__ import annotations

import asyncio
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from environments import access, engine
from environments.live.io import run_io
from portal.core.errors import Forbidden, NotFound
from portal.core.events import user_group
from portal.core.tokens import user_still_signed_in

__all__ = [
    "BerthConsumer",
    "Refused",
    "get_deployment",
    "get_environment",
    "get_service",
    "locate_container",
    "visible_environments",
]

log = logging.getLogger(__name__)


# The access path, awaitable. Database lookups run in Channels' database thread; engine
# lookups in the live I/O pool, so a slow engine never holds up the database thread.
get_environment = database_sync_to_async(access.get_environment)
get_service = database_sync_to_async(access.get_service)
get_deployment = database_sync_to_async(access.get_deployment)


@database_sync_to_async
def visible_environments(user) -> list:
    return list(access.visible_environments(user))


async def locate_container(user, reference: str, action: str):
    """``(environment, container)`` through :func:`access.locate_container`."""
    candidates = await database_sync_to_async(access.environments_with_actions)(user)
    return await run_io(access.locate_container, candidates, reference, action)


class Refused(Exception):
    """Refuse the socket before accept with ``code``."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


class BerthConsumer(AsyncJsonWebsocketConsumer):
    """Sign-in, authorization through :mod:`environments.access`, refusal codes, and the
    tasks a socket runs. Subclasses implement :meth:`authorize` and :meth:`opened`."""

    user = None
    user_group = ""

    async def connect(self) -> None:
        self.tasks: list[asyncio.Task] = []
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close(code=4401)
            return
        self.user = user
        code = await self._refusal(self.authorize(user, **self.scope["url_route"]["kwargs"]))
        if code:
            await self.close(code=code)
            return
        self.user_group = user_group(user.pk)
        await self.channel_layer.group_add(self.user_group, self.channel_name)
        await self.accept()
        await self.opened()

    @staticmethod
    async def _refusal(check) -> int:
        """The close code for what ``check`` raises, 0 when it passes."""
        try:
            await check
        except Refused as exc:
            return exc.code
        except NotFound:
            return 4404
        except Forbidden:
            return 4403
        except ValueError:
            return 4400
        except engine.EngineUnavailable:
            return 4503
        return 0

    async def access_changed(self, event: dict) -> None:
        """Someone changed this user's access: close the socket if it would be refused now.
        An engine that cannot be asked keeps the socket (the reader reports it)."""
        user = await database_sync_to_async(user_still_signed_in)(
            self.user.pk, token_hash=self.scope.get("token_hash"), session=self.scope.get("session")
        )
        if user is None:
            await self.close(code=4401)
            return
        self.user = user
        code = await self._refusal(self.recheck(user))
        if code and code != 4503:
            await self.close(code=code)

    async def recheck(self, user) -> None:
        """Raise as :meth:`authorize` would, for the user's access as it is now."""
        await self.authorize(user, **self.scope["url_route"]["kwargs"])

    async def authorize(self, user, **url_kwargs) -> None:
        """Look up what the URL names for ``user`` through ``access``; raise to refuse."""
        raise NotImplementedError

    async def opened(self) -> None:
        """Called once the socket is accepted."""

    async def closed(self) -> None:
        """Called when the socket closes, after its tasks are cancelled."""

    def start_task(self, coroutine) -> asyncio.Task:
        task = asyncio.create_task(coroutine)
        self.tasks.append(task)
        return task

    async def disconnect(self, code: int) -> None:
        for task in getattr(self, "tasks", []):
            if not task.done():
                task.cancel()
        if self.user_group:
            await self.channel_layer.group_discard(self.user_group, self.channel_name)
        await self.closed()
