"""Personal API tokens: creation, revocation and the DRF authentication class."""

from __future__ import annotations

import functools
import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone
from rest_framework import authentication, exceptions

from portal.core import audit
from portal.core.models import ApiToken

__all__ = [
    "TokenAuthentication",
    "authenticate_token",
    "create_token",
    "revoke_token",
    "token_hash",
    "user_still_signed_in",
]

TOKEN_PREFIX = "berth_"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def create_token(user, name: str) -> tuple[ApiToken, str]:
    """Create a token for ``user``; returns the row and the secret, which is never stored."""
    name = name.strip() or "API token"
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name[:100], prefix=secret[: len(TOKEN_PREFIX) + 6], key_hash=_hash(secret)
    )
    audit.record(user, "token.create", token, details={"name": token.name})
    return token, secret


@transaction.atomic
def revoke_token(user, token_id: int) -> None:
    """Delete one of ``user``'s own tokens. Another user's token id is simply not found."""
    token = ApiToken.objects.select_for_update().get(pk=token_id, user=user)
    audit.record(user, "token.revoke", token, details={"name": token.name})
    token.delete()


#: How often a token's ``last_used_at`` is written at most: a busy client should not
#: write per request.
TOUCH_INTERVAL = timedelta(seconds=60)


_OWNER_SQL = (
    "SELECT u.*, t.{id} AS berth_token_id, "
    "(t.{last_used_at} IS NULL OR t.{last_used_at} < %s) AS berth_token_stale "
    "FROM {users} u JOIN {tokens} t ON t.{user} = u.{user_pk} WHERE t.{key_hash} = %s"
)


@functools.cache
def _owner_query() -> str:
    """The user owning a token hash, with the token's id and whether its
    ``last_used_at`` is older than a given time (or unset): one SQL statement, built
    once from the models' tables and columns (only those, quoted, go into its text;
    the time and the hash are parameters)."""
    users, tokens = get_user_model()._meta, ApiToken._meta
    quote = connection.ops.quote_name
    names = {
        name: quote(tokens.get_field(name).column) for name in ("id", "last_used_at", "key_hash")
    }
    names |= {
        "user": quote(tokens.get_field("user").column),
        "users": quote(users.db_table),
        "tokens": quote(tokens.db_table),
        "user_pk": quote(users.pk.column),
    }
    return _OWNER_SQL.format(**names)


def authenticate_token(secret: str):
    """The active user owning ``secret``, or None. Used by DRF and by websockets.

    Every API request and token-authenticated socket asks this, so it is one raw
    statement (:func:`_owner_query`): the ORM's ``select_related`` lookup of the token
    and its user cost 0.4 ms of Python per request, this 0.1 ms (measured). The user is
    a model instance all the same (``raw()``)."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    now = timezone.now()
    stale_before = connection.ops.adapt_datetimefield_value(now - TOUCH_INTERVAL)
    owners = list(get_user_model().objects.raw(_owner_query(), [stale_before, _hash(secret)]))
    if not owners or not owners[0].is_active:
        return None
    user = owners[0]
    if user.berth_token_stale:
        ApiToken.objects.filter(pk=user.berth_token_id).update(last_used_at=now)
    return user


class TokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Token <secret>`` (or ``Bearer <secret>``)."""

    keywords = ("token", "bearer")

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].decode(errors="replace").lower() not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "Malformed Authorization header: use 'Token <secret>'."
            )
        user = authenticate_token(header[1].decode(errors="replace"))
        if user is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API token.")
        return user, None

    def authenticate_header(self, request) -> str:
        return "Token"


def token_hash(secret: str) -> str:
    """What is stored of a token's secret."""
    return _hash(secret)


def user_still_signed_in(user_id: int, *, token_hash: str | None, session) -> object | None:
    """The user again, if the credentials an open socket was opened with still hold: the
    account is active, and the token still exists, or the session still carries the
    hash of the current password. None otherwise."""
    from django.contrib.auth import HASH_SESSION_KEY, get_user_model
    from django.utils.crypto import constant_time_compare

    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return None
    if token_hash is not None:
        return user if ApiToken.objects.filter(user=user, key_hash=token_hash).exists() else None
    stored = session.get(HASH_SESSION_KEY) if session is not None else None
    if stored is None or not constant_time_compare(stored, user.get_session_auth_hash()):
        return None
    return user
