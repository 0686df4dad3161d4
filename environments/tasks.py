"""Celery tasks of the environments app: thin wrappers over domain functions, by id."""

from __future__ import annotations

from celery import shared_task

from environments.actions import refresh_endpoint_state
from environments.deploying import traffic
from environments.deploying.runner import reap_stale_deployments, run_deployment
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


@shared_task(name="environments.tasks.run_deployment", ignore_result=True, acks_late=True)
def run_deployment_task(deployment_id: int) -> None:
    """Run one deployment. acks_late: a worker killed mid-way does not lose the message,
    and the atomic claim makes the redelivery a no-op (the reaper finishes the record)."""
    run_deployment(deployment_id)


@shared_task(name="environments.tasks.reap_stale_deployments", ignore_result=True)
def reap_stale_deployments_task() -> None:
    reap_stale_deployments()


@shared_task(name="environments.tasks.retire_standby", ignore_result=True)
def retire_standby_task() -> None:
    """Retire blue-green colours whose switch-back time is over."""
    traffic.retire_standby()
