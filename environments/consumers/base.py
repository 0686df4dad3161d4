"""The base of every Berth websocket: sign-in, authorization and refusal in one place.

A socket subclasses :class:`BerthConsumer` and implements :meth:`authorize`, which asks
:mod:`environments.access` (never a model manager directly) for what the URL names and
raises the core domain errors. The base accepts the handshake and then closes
with a code, so that every client (a browser's ``CloseEvent.code``, the CLI) can tell
why:

* 4401 not signed in (or the account is inactive, or the token is not one);
* 4404 no such object in an environment the user can view (whether it exists or not:
  hidden and missing are the same answer);
* 4403 visible, but the action is missing there (or the environment's settings refuse
  it, e.g. exec turned off);
* 4400 bad parameters (``ValueError``);
* 4409 the object is in no state for it (``Conflict``, e.g. exec in a stopped container);
* 4429 too many at once (``Refused(4429)``, e.g. exec sessions per user);
* 4503 the engine needed to find the object could not be asked.

The close reason carries a sentence a person can act on (never more than whether the
object is visible already says). Only a browser whose Origin is not allowed is refused
at the handshake itself (HTTP 403, see :mod:`portal.core.ws_auth`). After accept,
:meth:`opened` runs; tasks started with :meth:`start_task` are cancelled when the
socket closes.

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
from portal.core.errors import Conflict, Forbidden, NotFound
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
    """Refuse the socket with ``code`` (and ``reason``, a sentence for the person)."""

    def __init__(self, code: int, reason: str = ""):
        super().__init__(code, reason)
        self.code = code
        self.reason = reason


# Close reasons are at most 123 bytes (RFC 6455); these say no more than the code does.
REASONS = {
    4400: "Bad parameters.",
    4401: "Sign in, or send 'Authorization: Token <key>'.",
    4403: "You may not do this here.",
    4404: "No such object.",
    4409: "Not possible in this state.",
    4429: "Too many at once.",
    4503: "The engine could not be asked.",
}


def _reason(code: int, message: str) -> str:
    reason = (message or REASONS.get(code, "")).strip()
    encoded = reason.encode()
    return encoded[:123].decode(errors="ignore") if len(encoded) > 123 else reason


class BerthConsumer(AsyncJsonWebsocketConsumer):
    """Sign-in, authorization through :mod:`environments.access`, refusal codes, and the
    tasks a socket runs. Subclasses implement :meth:`authorize` and :meth:`opened`."""

    user = None
    user_group = ""
    is_open = False
    #: Send ``{"type": "error", "message"}`` before a refusal's close (a client may not
    #: get the close frame's reason: some servers and libraries drop it); never for 4404, so hidden and missing stay one answer.
    explains_refusals = False

    async def connect(self) -> None:
        self.tasks: list[asyncio.Task] = []
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.refuse(4401)
            return
        self.user = user
        code, message = await self._refusal(
            self.authorize(user, **self.scope["url_route"]["kwargs"])
        )
        if code:
            await self.refuse(code, message)
            return
        self.user_group = user_group(user.pk)
        await self.channel_layer.group_add(self.user_group, self.channel_name)
        await self.accept()
        self.is_open = True
        await self.opened()

    async def refuse(self, code: int, message: str = "") -> None:
        """Accept, then close at once with ``code``: a refusal at the handshake would be
        a bare HTTP 403 in which no client can read why."""
        await self.accept()
        if self.explains_refusals and message and code != 4404:
            await self.send_json({"type": "error", "message": message})
        await self.close(code=code, reason=_reason(code, message))

    @staticmethod
    async def _refusal(check) -> tuple[int, str]:
        """The close code and reason for what ``check`` raises, ``(0, "")`` when it
        passes. Not-found messages are the generic one, so they reveal nothing."""
        try:
            await check
        except Refused as exc:
            return exc.code, exc.reason
        except NotFound:
            return 4404, ""
        except Forbidden as exc:
            return 4403, str(exc)
        except Conflict as exc:
            return 4409, str(exc)
        except ValueError as exc:
            return 4400, str(exc)
        except engine.EngineUnavailable as exc:
            return 4503, str(exc)
        return 0, ""

    async def access_changed(self, event: dict) -> None:
        """Someone changed this user's access: close the socket if it would be refused now.
        An engine that cannot be asked keeps the socket (the reader reports it)."""
        user = await database_sync_to_async(user_still_signed_in)(
            self.user.pk, token_hash=self.scope.get("token_hash"), session=self.scope.get("session")
        )
        if user is None:
            await self.close(code=4401, reason=_reason(4401, ""))
            return
        self.user = user
        code, message = await self._refusal(self.recheck(user))
        if code and code != 4503:
            await self.close(code=code, reason=_reason(code, message))

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
        if self.is_open:
            await self.closed()
