"""Celery tasks of the registry app: thin wrappers over the inventory, by id."""

from __future__ import annotations

import logging

from celery import shared_task

from registry.client import RegistryError
from registry.inventory import refresh_registry, refresh_repository
from registry.models import Registry

log = logging.getLogger(__name__)


@shared_task(name="registry.tasks.refresh_registry", ignore_result=True)
def refresh_registry_task(registry_id: int) -> None:
    """Reconcile one registry's tags with the database."""
    registry = Registry.objects.filter(pk=registry_id).first()
    if registry is None:
        return
    try:
        refresh_registry(registry)
    except RegistryError as exc:
        log.warning("Refresh skipped: %s", exc)


@shared_task(name="registry.tasks.refresh_repository", ignore_result=True)
def refresh_repository_task(registry_id: int, repository: str) -> None:
    registry = Registry.objects.filter(pk=registry_id).first()
    if registry is not None:
        try:
            refresh_repository(registry, repository)
        except RegistryError as exc:
            log.warning("Refresh of %s skipped: %s", repository, exc)


@shared_task(name="registry.tasks.refresh_all_registries", ignore_result=True)
def refresh_all_registries() -> None:
    """Periodic reconciliation: notifications are best-effort, polling is not."""
    for registry_id in Registry.objects.values_list("pk", flat=True):
        refresh_registry_task.delay(registry_id)
