"""Writing the audit log.

Domain functions call :func:`record` inside their transaction; the source address
of the current HTTP request is picked up from a context variable that
:class:`SourceAddressMiddleware` sets, so domain signatures stay free of requests.
"""

from __future__ import annotations

import contextvars
import re
from typing import Any

from django.db import models

from portal.core.models import AuditEvent

__all__ = [
    "SourceAddressMiddleware",
    "changes",
    "readable_details",
    "record",
    "scrub",
    "source_address",
]

_source_ip: contextvars.ContextVar[str | None] = contextvars.ContextVar("source_ip", default=None)

# Keys whose values never reach the audit log, whatever nesting they appear at.
_SECRET_KEY = re.compile(r"pass(word)?|secret|token|credential|private|(^|_)key$", re.I)
REDACTED = "***"


def scrub(value: Any) -> Any:
    """Return ``value`` JSON-ready, with every secret-looking key's value replaced by ``***``."""
    if isinstance(value, dict):
        return {
            key: (
                REDACTED if _SECRET_KEY.search(str(key)) and item not in ("", None) else scrub(item)
            )
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub(item) for item in value]
    if isinstance(value, models.Model):
        return str(value)  # a changed foreign key: its name, which is what a reader wants
    return value


def source_address() -> str | None:
    """The client address of the request being served, if any."""
    return _source_ip.get()


class SourceAddressMiddleware:
    """Remembers the client address for audit events written during the request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _source_ip.set(request.META.get("REMOTE_ADDR") or None)
        try:
            return self.get_response(request)
        finally:
            _source_ip.reset(token)


def record(
    actor,
    action: str,
    target: models.Model | None = None,
    *,
    environment=None,
    target_type: str = "",
    target_repr: str = "",
    details: dict | None = None,
) -> AuditEvent:
    """Append one audit event. ``details`` is scrubbed of secrets before it is stored."""
    if target is not None:
        target_type = target_type or target._meta.label_lower
        target_repr = target_repr or str(target)
    actor = actor if getattr(actor, "is_authenticated", False) else None
    return AuditEvent.objects.create(
        actor=actor,
        actor_name=actor.get_username() if actor else "",
        action=action,
        target_type=target_type,
        target_id=str(target.pk) if target is not None and target.pk is not None else "",
        target_repr=target_repr[:255],
        environment=environment,
        environment_name=environment.name if environment is not None else "",
        source_ip=source_address(),
        details=scrub(details or {}),
    )


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def changes(before: dict | None, after: dict) -> dict[str, list]:
    """``{dotted.path: [old, new]}`` for every leaf that differs between two documents
    (``None`` where a side has no such key): what the audit log keeps of an edit, rather
    than the whole document."""
    old, new = _flatten(before or {}), _flatten(after)
    return {
        path: [old.get(path), new.get(path)]
        for path in sorted(old.keys() | new.keys())
        if old.get(path) != new.get(path)
    }


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value or '""'
    if isinstance(value, list | dict):
        import json

        return json.dumps(value, sort_keys=True)[:200]
    return str(value)


def readable_details(details: Any) -> list[dict]:
    """An event's details as lines a person reads: ``{"key", "old", "new"}`` for a
    change (``changes`` and ``changed`` hold ``[old, new]`` pairs), ``{"key", "value"}``
    for a plain value; nested documents as dotted keys."""
    if not isinstance(details, dict):
        return [{"key": "", "value": _text(details)}]
    lines = []
    for key, value in details.items():
        if key in ("changes", "changed") and isinstance(value, dict):
            for path, pair in value.items():
                if isinstance(pair, list) and len(pair) == 2:
                    lines.append({"key": path, "old": _text(pair[0]), "new": _text(pair[1])})
                else:
                    lines.append({"key": path, "value": _text(pair)})
            continue
        for path, leaf in _flatten(value, str(key)).items():
            lines.append({"key": path, "value": _text(leaf)})
    return lines
