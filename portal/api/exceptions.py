"""API errors: the core domain errors and Django's ValidationError become 4xx, mapped
here once for every viewset, without importing any app."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import ProtectedError, RestrictedError
from django.utils.text import capfirst
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler

from portal.core.errors import Conflict, DependencyUnavailable

# How many of the rows that still use something a 409 names.
NAMED_USERS = 3


class DependencyFailed(exceptions.APIException):
    """Something Berth depends on (an engine, a registry) could not be used."""

    status_code = status.HTTP_424_FAILED_DEPENDENCY
    default_code = "dependency_failed"


class ConflictError(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"


def still_used(exc: ProtectedError | RestrictedError) -> str:
    """What a refused delete says: the first few rows that still use the object."""
    users = getattr(exc, "protected_objects", None) or getattr(exc, "restricted_objects", ())
    users = sorted(users, key=lambda row: (row._meta.label, row.pk))
    named = [f"{capfirst(row._meta.verbose_name)} {row}" for row in users[:NAMED_USERS]]
    if not named:
        return "It is still in use, so it cannot be deleted."
    more = len(users) - len(named)
    listing = "; ".join(named) + (f"; and {more} more" if more else "")
    return f"It is still in use, so it cannot be deleted: {listing}. Remove those first."


def exception_handler(exc, context):
    extra = {}
    if isinstance(exc, Conflict):
        extra = exc.extra
        exc = ConflictError(str(exc))
    elif isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        exc = exceptions.ValidationError(detail)
    elif isinstance(exc, DependencyUnavailable):
        exc = DependencyFailed(str(exc))
    elif isinstance(exc, ProtectedError | RestrictedError):
        exc = ConflictError(still_used(exc))
    elif isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge(
            f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."
        )
    elif isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        exc = exceptions.ParseError(str(exc))
    response = drf_exception_handler(exc, context)
    if response is not None and extra:
        response.data.update(extra)
    return response
