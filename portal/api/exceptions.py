"""API errors: Django's ValidationError and the engine's EngineUnavailable become 4xx."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler

from environments.engine import EngineUnavailable
from registry.client import RegistryError


class DependencyFailed(exceptions.APIException):
    """Something Berth depends on (an engine, a registry) could not be used."""

    status_code = status.HTTP_424_FAILED_DEPENDENCY
    default_code = "dependency_failed"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


def exception_handler(exc, context):
    from environments.deployments import DeploymentConflict

    if isinstance(exc, DeploymentConflict):
        response = drf_exception_handler(Conflict(str(exc)), context)
        response.data["active_deployment"] = exc.active.pk
        return response
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        exc = exceptions.ValidationError(detail)
    elif isinstance(exc, EngineUnavailable | RegistryError):
        exc = DependencyFailed(str(exc))
    return drf_exception_handler(exc, context)
