"""Domain errors, raised by domain code and mapped once per edge.

Views and the API get them through Django's and DRF's own handling (``NotFound`` is an
``Http404``, ``Forbidden`` a ``PermissionDenied``) and through
:func:`portal.api.exceptions.exception_handler`; websocket consumers map them to close
codes in their base class. The engine's and the registry's errors subclass
:class:`DependencyUnavailable`, so no edge needs to import an adapter to map them.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404

__all__ = ["Conflict", "DependencyUnavailable", "DomainError", "Forbidden", "NotFound"]


class DomainError(Exception):
    """Base of the errors a person can act on. ``extra`` is added to API error bodies."""

    extra: dict = {}


class NotFound(DomainError, Http404):
    """No such object, or one the user may not see: the two are never told apart."""


class Forbidden(DomainError, PermissionDenied):
    """The user sees the object but lacks the action; the message names it."""


class Conflict(DomainError):
    """The request clashes with the current state (an active deployment, an object in use)."""

    def __init__(self, message: str, **extra):
        super().__init__(message)
        self.extra = extra


class DependencyUnavailable(DomainError):
    """Something Berth depends on (a Docker engine, a registry) could not be used."""
