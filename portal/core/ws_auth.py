"""Websocket authentication: the browser's session, or an API token for other clients.

Two doors, chosen by the handshake's ``Authorization`` header:

* **token clients** (the CLI, scripts) send ``Authorization: Token <secret>`` (or
  ``Bearer``). Only the token counts: no cookie session is read, so no Origin is needed,
  since a page in a browser cannot set that header on a websocket. A token that is not
  one signs nobody in, and the socket then closes with 4401 like any unsigned one.
* **browsers** send their session cookie. The Origin must be Berth's own: the scheme's
  host **and port** the handshake was addressed to (its ``Host``), or one of
  ``CSRF_TRUSTED_ORIGINS``, and its host one of ``ALLOWED_HOSTS``. That check is what
  stops another page from opening a socket with the user's cookie, and the port counts:
  a page served on another port of the same host (an entry point serving what a
  developer deployed, say) is same-site to the browser, which sends the cookie along.
  A bad or missing Origin is refused at the handshake (HTTP 403), before anything else.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from channels.security.websocket import AllowedHostsOriginValidator, WebsocketDenier
from django.conf import settings
from django.contrib.auth.models import AnonymousUser

from portal.core.tokens import authenticate_token, token_hash

__all__ = ["BerthAuthStack", "TokenAuthMiddleware", "authorization_header", "same_origin"]

DEFAULT_PORTS = {"http": 80, "https": 443}


def _header(scope, name: bytes) -> str | None:
    """The handshake's header ``name`` (lower case), or None when it sent none."""
    for key, value in scope.get("headers") or []:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def authorization_header(scope) -> str | None:
    """The handshake's ``Authorization`` header, or None when it sent none."""
    return _header(scope, b"authorization")


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


def _host_port(netloc: str, scheme: str) -> tuple[str, int] | None:
    """``(host, port)`` of a ``host[:port]``, the scheme's port when none is given."""
    try:
        parts = urlsplit(f"{scheme}://{netloc}")
        return (parts.hostname or "", parts.port or DEFAULT_PORTS[scheme])
    except ValueError:
        return None


def same_origin(scope) -> bool:
    """Whether the handshake's Origin is Berth's own (the host and port its ``Host``
    names) or a trusted one (``CSRF_TRUSTED_ORIGINS``), as Django's CSRF check decides
    for a form."""
    origin = (_header(scope, b"origin") or "").strip()
    if not origin or origin == "null":
        return False
    if origin.rstrip("/") in [o.rstrip("/") for o in settings.CSRF_TRUSTED_ORIGINS]:
        return True
    parts = urlsplit(origin)
    host = (_header(scope, b"host") or "").strip()
    if parts.scheme not in DEFAULT_PORTS or not parts.netloc or not host:
        return False
    mine = _host_port(host, parts.scheme)
    return mine is not None and _host_port(parts.netloc, parts.scheme) == mine


class SameOriginValidator:
    """Refuses a browser's handshake whose Origin is not Berth's own (HTTP 403)."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not same_origin(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.inner(scope, receive, send)


class _ByCredentials:
    """Token clients through the token door, everyone else through the browser's."""

    def __init__(self, inner):
        self.token_door = TokenAuthMiddleware(inner)
        self.browser_door = SameOriginValidator(
            AllowedHostsOriginValidator(AuthMiddlewareStack(inner))
        )

    async def __call__(self, scope, receive, send):
        if authorization_header(scope) is not None:
            return await self.token_door(scope, receive, send)
        return await self.browser_door(scope, receive, send)


def BerthAuthStack(inner):  # noqa: N802 - named like Channels' AuthMiddlewareStack
    """A token when the client sends one (no Origin check), else the session cookie
    behind the Origin check."""
    return _ByCredentials(inner)
