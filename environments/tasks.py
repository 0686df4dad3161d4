"""Celery tasks of the environments app: thin wrappers over domain functions, by id."""

from __future__ import annotations

from celery import shared_task

from environments.actions import refresh_endpoint_state
from environments.models import Environment


@shared_task(name="environments.tasks.probe_endpoint", ignore_result=True)
def probe_endpoint(environment_id: int) -> None:
    """Probe one environment's endpoint and broadcast the result."""
    environment = Environment.objects.filter(pk=environment_id).first()
    if environment is not None:
        refresh_endpoint_state(environment)


@shared_task(name="environments.tasks.probe_all_endpoints", ignore_result=True)
def probe_all_endpoints() -> None:
    """Fan out one probe per environment, so one slow endpoint does not delay the rest."""
    for environment_id in Environment.objects.values_list("pk", flat=True):
        probe_endpoint.delay(environment_id)
