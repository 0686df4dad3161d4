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
from environments.deploying import policy, traffic
from environments.models import Deployment, Environment, Service, ServiceConfig
from environments.roles import DEPLOY
from portal.core import audit
from registry.client import split_reference, validate_repository
from registry.models import Registry

__all__ = ["create_service", "restart_service", "save_config", "scale_service", "stop_service"]


def _registry_and_repository(user, registry, reference: str):
    """The registry and repository a reference names, or ValidationError on the field."""
    host, repository = split_reference(reference.strip())
    try:
        validate_repository(repository)
    except ValueError as exc:
        raise ValidationError({"repository": str(exc)}) from None
    if host is None:
        if registry is None:
            raise ValidationError({"registry": "Choose a registry, or give the full reference."})
        return registry, repository
    named = next((r for r in Registry.objects.restrict(user) if r.host == host), None)
    if named is None:
        raise ValidationError(
            {
                "repository": f"No registry at {host} is known to Berth: pick one in the "
                "list and give the repository alone, or ask an administrator to add it."
            }
        )
    if registry is not None and registry.pk != named.pk:
        raise ValidationError(
            {
                "repository": f"{host} is the registry {named.name}, not {registry.name}: "
                f"choose {named.name}, or leave the host out."
            }
        )
    return named, repository


@transaction.atomic
def create_service(
    user, *, name: str, repository: str, registry=None, description: str = ""
) -> Service:
    """A new service; anyone who may deploy somewhere can create one. ``repository`` may
    be a full image reference (``127.0.0.1:5000/demo/app``, as the lists show it): its
    host chooses the registry, and a tag or digest on it is left out."""
    if not (user.is_superuser or Environment.objects.restrict(user, DEPLOY).exists()):
        raise PermissionDenied("You may not deploy anywhere, so you cannot create services.")
    registry, repository = _registry_and_repository(user, registry, repository)
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
    # The environment's row, held until the end: a reservation changed meanwhile (which
    # holds every environment's row) waits for this config, or this config for it.
    list(Environment.objects.select_for_update().filter(pk=environment.pk).values_list("pk"))
    previous = service.current_config(environment)
    if previous and isinstance(document, dict) and isinstance(document.get("env"), dict):
        document = dict(document, env={
            name: (previous.document["env"].get(name, value) if value == config_schema.MASK else value)
            for name, value in document["env"].items()
        })  # fmt: skip
    normalised = config_schema.validate(document)
    # Every refusal at once, each on its field: a person fixing a copied config sees
    # the port and the secrets to give in one go.
    errors: dict[str, list[str]] = {}
    for name in normalised["secret_env"]:
        if normalised["env"].get(name) == config_schema.MASK:  # copied, masked, from elsewhere
            errors[f"env.{name}"] = [f"Give {name}'s value in {environment.name}."]
    for check in (
        lambda: policy.check_config(environment, normalised),
        lambda: policy.check_ports(user, service, environment, normalised),
        lambda: policy.check_entry_ports(user, service, environment, normalised),
        lambda: policy.check_entry_reservations(user, environment, normalised),
        # Claims the entry points (rolled back with the rest when anything is refused);
        # not tried once an entry point is refused already.
        lambda: (
            any(field.startswith("entry_points") for field in errors)
            or traffic.claim_entry_points(user, service, environment, normalised)
        ),
    ):
        try:
            check()
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                errors.setdefault(field, []).extend(messages)
    if errors:
        raise ValidationError(errors)
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
    """A new config revision with ``replicas``, deployed with the running digest: the
    replicas that run are not touched."""
    access.require(user, environment, DEPLOY)
    last = _last_success(service, environment)
    document = dict(service.current_config(environment).document, replicas=replicas)
    revision = save_config(user, service, environment, document, comment=f"scale to {replicas}")
    # On a standalone engine only the missing replicas start and the extra ones go; a
    # Swarm service is updated with the new count by the swarm strategy.
    strategy = None if revision.document["strategy"]["type"] == "swarm" else "scale"
    return deploy(
        service, environment, last.digest, user=user, confirm=confirm, config=revision,
        strategy=strategy,
    )  # fmt: skip


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
