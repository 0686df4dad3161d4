"""Websocket authentication: the browser's session, or an API token for other clients.

Two doors, chosen by the handshake's ``Authorization`` header:

* **token clients** (the CLI, scripts) send ``Authorization: Token <secret>`` (or
  ``Bearer``). Only the token counts: no cookie session is read, so no Origin is needed,
  since a page in a browser cannot set that header on a websocket. A token that is not
  one signs nobody in, and the socket then closes with 4401 like any unsigned one.
* **browsers** send their session cookie. The Origin must be one of ``ALLOWED_HOSTS``
  (``AllowedHostsOriginValidator``): that check is what stops another site's page from
  opening a socket with the user's cookie. A bad or missing Origin is refused at the
  handshake (HTTP 403), before anything else.
"""

from __future__ import annotations

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from channels.security.websocket import AllowedHostsOriginValidator
from django.contrib.auth.models import AnonymousUser

from portal.core.tokens import authenticate_token, token_hash

__all__ = ["BerthAuthStack", "TokenAuthMiddleware", "authorization_header"]


def authorization_header(scope) -> str | None:
    """The handshake's ``Authorization`` header, or None when it sent none."""
    for name, value in scope.get("headers") or []:
        if name.lower() == b"authorization":
            return value.decode(errors="replace")
    return None


class TokenAuthMiddleware(BaseMiddleware):
    """Signs in the owner of ``Authorization: Token <secret>``; anybody else is anonymous."""

    async def __call__(self, scope, receive, send):
        header = (authorization_header(scope) or "").split()
        user = None
        if len(header) == 2 and header[0].lower() in ("token", "bearer"):
            user = await database_sync_to_async(authenticate_token)(header[1])
        if user is None:
            scope = dict(scope, user=AnonymousUser())
        else:
            # Remembered so an open socket can tell when its token is revoked.
            scope = dict(scope, user=user, token_hash=token_hash(header[1]))
        return await super().__call__(scope, receive, send)


class _ByCredentials:
    """Token clients through the token door, everyone else through the browser's."""

    def __init__(self, inner):
        self.token_door = TokenAuthMiddleware(inner)
        self.browser_door = AllowedHostsOriginValidator(AuthMiddlewareStack(inner))

    async def __call__(self, scope, receive, send):
        if authorization_header(scope) is not None:
            return await self.token_door(scope, receive, send)
        return await self.browser_door(scope, receive, send)


def BerthAuthStack(inner):  # noqa: N802 - named like Channels' AuthMiddlewareStack
    """A token when the client sends one (no Origin check), else the session cookie
    behind the Origin check."""
    return _ByCredentials(inner)
