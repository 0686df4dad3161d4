"""State changes of registries: admin-only, validated, audited."""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from environments.models import Environment
from environments.roles import DEPLOY, PROMOTE
from portal.core import audit
from portal.core.errors import Conflict
from portal.core.tasks import dispatch_on_commit
from registry.models import Registry

__all__ = ["create_registry", "delete_registry", "request_refresh", "update_registry"]

FIELDS = ("name", "url", "username", "password", "verify_tls", "webhook_secret")


def _require_admin(user, action: str) -> None:
    if not (user.is_superuser or user.has_perm(f"registry.{action}_registry")):
        raise PermissionDenied("Only administrators can manage registries.")


@transaction.atomic
def create_registry(user, **fields) -> Registry:
    _require_admin(user, "add")
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise ValidationError(f"Unknown fields: {', '.join(sorted(unknown))}.")
    registry = Registry(**fields)
    registry.url = registry.url.rstrip("/")
    registry.full_clean()
    registry.save()
    audit.record(user, "registry.create", registry, details=fields)
    return registry


@transaction.atomic
def update_registry(user, registry: Registry, **changes) -> Registry:
    _require_admin(user, "change")
    for key, value in changes.items():
        if key not in FIELDS:
            raise ValidationError(f"Unknown field {key}.")
        setattr(registry, key, value)
    registry.full_clean()
    registry.save()
    audit.record(user, "registry.update", registry, details=changes)
    return registry


@transaction.atomic
def delete_registry(user, registry: Registry) -> None:
    _require_admin(user, "delete")
    users = list(registry.environments.values_list("name", flat=True)[:5])
    services = list(registry.services.values_list("name", flat=True)[:5])
    if users or services:
        named = ", ".join(
            [*(f"environment {n}" for n in users), *(f"service {n}" for n in services)]
        )
        raise Conflict(f"{registry.name} is still used by {named}: point them elsewhere first.")
    audit.record(user, "registry.delete", registry, details={"name": registry.name})
    registry.delete()


REFRESH_QUEUE_STALE = timedelta(minutes=10)  # a queued refresh never started: queue again


def queue_refresh(registry_id: int) -> bool:
    """Queue a reconciliation of the registry unless one is queued and not started yet
    (the worker takes it off when it starts, so a request during a refresh queues one
    more, never a pile). Returns whether this call queued it."""
    now = timezone.now()
    queued = (
        Registry.objects.filter(pk=registry_id)
        .filter(
            Q(refresh_queued_at__isnull=True) | Q(refresh_queued_at__lt=now - REFRESH_QUEUE_STALE)
        )
        .update(refresh_queued_at=now)
    )
    if queued:
        dispatch_on_commit("registry.tasks.refresh_registry", registry_id)
    return bool(queued)


def request_refresh(user, registry: Registry) -> bool:
    """Queue a reconciliation of ``registry``'s tags; False when one is already queued.
    Administrators, and whoever may deploy or sign off in an environment that uses the
    registry, may ask for one."""
    if not (user.is_superuser or user.has_perm("registry.change_registry")):
        users = Environment.objects.filter(registry=registry)
        allowed = (
            users.filter(pk__in=Environment.objects.restrict(user, DEPLOY).values("pk")).exists()
            or users.filter(
                pk__in=Environment.objects.restrict(user, PROMOTE).values("pk")
            ).exists()
        )
        if not allowed:
            raise PermissionDenied(
                f"Only those who deploy or sign off with {registry.name} may refresh it."
            )
    return queue_refresh(registry.pk)
