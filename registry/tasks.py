"""Celery tasks of the registry app: thin wrappers over the domain, by id."""

from __future__ import annotations

import logging

from celery import shared_task

from registry.actions import queue_refresh
from registry.client import RegistryClient, RegistryError
from registry.inventory import record_image, refresh_registry, refresh_repository
from registry.models import Promotion, Registry, Repository
from registry.promotion import run_promotion

log = logging.getLogger(__name__)


@shared_task(name="registry.tasks.refresh_registry", ignore_result=True)
def refresh_registry_task(registry_id: int) -> None:
    """Reconcile one registry's tags with the database."""
    Registry.objects.filter(pk=registry_id).update(refresh_queued_at=None)  # started
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
        queue_refresh(registry_id)


@shared_task(name="registry.tasks.record_image", ignore_result=True)
def record_image_task(repository_id: int, digest: str) -> None:
    """Read a pushed manifest's metadata (size, architectures) for the inventory."""
    repository = Repository.objects.select_related("registry").filter(pk=repository_id).first()
    if repository is None:
        return
    try:
        record_image(RegistryClient.for_registry(repository.registry), repository, digest)
    except RegistryError as exc:
        log.warning("Image %s@%s not recorded: %s", repository.name, digest, exc)


@shared_task(name="registry.tasks.run_promotion", ignore_result=True, acks_late=True)
def run_promotion_task(promotion_id: int) -> None:
    """Copy and retag for a promotion between repositories or registries."""
    promotion = Promotion.objects.select_related(
        "source_registry", "target_registry", "actor", "source_environment"
    ).filter(pk=promotion_id)
    if promotion:
        run_promotion(promotion[0])
