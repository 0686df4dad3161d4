"""API errors: the core domain errors and Django's ValidationError become 4xx, mapped
here once for every viewset, without importing any app."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler

from portal.core.errors import Conflict, DependencyUnavailable


class DependencyFailed(exceptions.APIException):
    """Something Berth depends on (an engine, a registry) could not be used."""

    status_code = status.HTTP_424_FAILED_DEPENDENCY
    default_code = "dependency_failed"


class ConflictError(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


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
    response = drf_exception_handler(exc, context)
    if response is not None and extra:
        response.data.update(extra)
    return response
