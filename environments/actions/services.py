"""Services and their per-environment configuration: the state changes.

``create_service`` and ``save_config`` (a new revision, validated, secrets kept when
masked); ``scale_service`` (a new revision deployed with the running digest);
``restart_service`` and ``stop_service`` on every replica Berth owns.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from environments import access
from environments.actions.deployments import deploy, operate_service
from environments.deploying import config as config_schema
from environments.deploying import policy
from environments.models import Deployment, Environment, Service, ServiceConfig
from environments.roles import DEPLOY
from portal.core import audit
from registry.client import validate_repository

__all__ = ["create_service", "restart_service", "save_config", "scale_service", "stop_service"]


@transaction.atomic
def create_service(user, *, name: str, registry, repository: str, description: str = "") -> Service:
    """A new service; anyone who may deploy somewhere can create one."""
    if not (user.is_superuser or Environment.objects.restrict(user, DEPLOY).exists()):
        raise PermissionDenied("You may not deploy anywhere, so you cannot create services.")
    try:
        validate_repository(repository)
    except ValueError as exc:
        raise ValidationError({"repository": str(exc)}) from None
    service = Service(
        name=name,
        registry=registry,
        repository=repository,
        description=description,
        created_by=user,
    )
    service.full_clean()
    service.save()
    audit.record(
        user, "service.create", service, details={"repository": f"{registry.host}/{repository}"}
    )
    return service


@transaction.atomic
def save_config(
    user, service: Service, environment: Environment, document: dict, comment: str = ""
) -> ServiceConfig:
    """Validate and store a new config revision; a masked secret keeps its stored value."""
    access.require(user, environment, DEPLOY)
    previous = service.current_config(environment)
    if previous and isinstance(document, dict) and isinstance(document.get("env"), dict):
        document = dict(document, env={
            name: (previous.document["env"].get(name, value) if value == config_schema.MASK else value)
            for name, value in document["env"].items()
        })  # fmt: skip
    normalised = config_schema.validate(document)
    policy.check_config(environment, normalised)
    if previous and previous.document == normalised:
        return previous
    revision = ServiceConfig.objects.create(
        service=service, environment=environment, document=normalised, comment=comment,
        revision=(previous.revision + 1) if previous else 1, created_by=user,
    )  # fmt: skip
    audit.record(
        user, "service.config", revision, environment=environment,
        details={
            "revision": revision.revision,
            "changes": audit.changes(
                config_schema.mask_secrets(previous.document) if previous else None,
                config_schema.mask_secrets(normalised),
            ),
        },
    )  # fmt: skip
    return revision


def _last_success(service: Service, environment: Environment) -> Deployment:
    last = Deployment.objects.last_succeeded(service, environment)
    if last is None:
        raise ValidationError(f"{service} has never been deployed to {environment.name}.")
    return last


def scale_service(
    service: Service, environment: Environment, replicas: int, *, user, confirm: bool = False
) -> Deployment:
    """A new config revision with ``replicas``, deployed with the running digest."""
    access.require(user, environment, DEPLOY)
    last = _last_success(service, environment)
    document = dict(service.current_config(environment).document, replicas=replicas)
    revision = save_config(user, service, environment, document, comment=f"scale to {replicas}")
    return deploy(service, environment, last.digest, user=user, confirm=confirm, config=revision)


def restart_service(
    service: Service, environment: Environment, *, user, confirm: bool = False
) -> Deployment:
    """Restart what runs of the service in the environment, as a recorded operation."""
    return operate_service(
        service, environment, Deployment.Action.RESTART, user=user, confirm=confirm
    )


def stop_service(
    service: Service, environment: Environment, *, user, confirm: bool = False
) -> Deployment:
    """Stop what runs of the service in the environment, as a recorded operation; it
    serves again after the next deployment or a restart."""
    return operate_service(service, environment, Deployment.Action.STOP, user=user, confirm=confirm)
