"""Websocket authentication: the browser's session, or an API token for other clients."""

from __future__ import annotations

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware

from portal.core.tokens import authenticate_token, token_hash


class TokenAuthMiddleware(BaseMiddleware):
    """Accepts ``Authorization: Token <secret>`` on the websocket handshake."""

    async def __call__(self, scope, receive, send):
        headers = dict(scope.get("headers") or [])
        header = headers.get(b"authorization", b"").decode(errors="replace").split()
        if len(header) == 2 and header[0].lower() in ("token", "bearer"):
            user = await database_sync_to_async(authenticate_token)(header[1])
            if user is not None:
                # Remembered so an open socket can tell when its token is revoked.
                scope = dict(scope, user=user, token_hash=token_hash(header[1]))
        return await super().__call__(scope, receive, send)


__all__ = ["BerthAuthStack", "TokenAuthMiddleware"]


def BerthAuthStack(inner):  # noqa: N802 - named like Channels' AuthMiddlewareStack
    """Session auth first, then a token, if one is sent, takes precedence."""
    return AuthMiddlewareStack(TokenAuthMiddleware(inner))
