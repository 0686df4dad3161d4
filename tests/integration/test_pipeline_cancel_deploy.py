"""Cancelling a run while its deploy stage deploys, on the real engine: the deployment
stops at its next checkpoint through the deployment domain, removes the replica it
started, leaves the old replicas serving, and ends cancelled with the reason."""

from __future__ import annotations

import time

import docker
import pytest
from django.urls import reverse

from environments import actions, engine
from environments.models import Deployment
from tests import stack
from tests.integration.conftest import wait_finished
from tests.integration.test_pipelines import _digest_pipeline

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _until(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _start_run(api, service, stages: str, *, digest: str) -> int:
    """Create a pipeline ``ship`` of ``service`` with these stages and start a run of it
    on ``digest``; its id."""
    created = api.post(
        reverse("pipeline-list"),
        {"service": service.name, "name": "ship", "text": _digest_pipeline(stages)},
        format="json",
    )
    assert created.status_code == 201, created.data
    started = api.post(
        reverse("pipeline-run", args=[created.data["id"]]), {"digest": digest}, format="json"
    )
    assert started.status_code == 202, started.data
    return started.data["id"]


def test_cancel_during_a_deploy_stage_stops_the_deployment_and_keeps_the_old_replicas(
    celery_worker_thread, web_service, versions, personas, environments, api_for
):
    v1, v2 = versions
    developer = personas["developer"]
    first = wait_finished(actions.deploy(web_service, environments["dev"], v1, user=developer))
    assert first.status == "succeeded", first.reason
    # The next revision's replicas never become healthy: the deploy waits until cancelled.
    document = dict(web_service.configs.get(environment=environments["dev"]).document)
    document["health_check"] = {"http_path": "/never", "interval": 0.5, "timeout": 1, "retries": 20}
    actions.save_config(developer, web_service, environments["dev"], document)

    api = api_for("developer")
    run_id = _start_run(
        api, web_service, "  - {name: ship, kind: deploy, environment: dev}\n", digest=v2
    )

    def new_replica_started():
        deployment = Deployment.objects.filter(digest=v2, service=web_service).first()
        started = deployment and deployment.events.filter(kind="replica", data__state="starting")
        return deployment if started and started.exists() else None

    deployment = _until(new_replica_started, 60, "the new replica to start")
    cancelled = api.post(reverse("pipeline-run-cancel", args=[run_id]))
    assert cancelled.status_code == 200, cancelled.data

    deployment = _until(
        lambda: (d := Deployment.objects.get(pk=deployment.pk)).status not in d.ACTIVE and d,
        60,
        "the deployment to stop",
    )
    assert deployment.status == "cancelled"
    assert deployment.reason == "pipeline run cancelled by developer"
    run = api.get(reverse("pipeline-run-detail", args=[run_id])).data
    assert run["status"] == "cancelled"
    client = docker.DockerClient(base_url=environments["dev"].endpoint_url, version="auto")
    try:
        label = f"{engine.LABEL_SERVICE}={web_service.name}"
        containers = client.containers.list(all=True, filters={"label": label})
        by_deployment = {}
        for container in containers:
            by_deployment.setdefault(container.labels[engine.LABEL_DEPLOYMENT], []).append(
                container.status
            )
    finally:
        client.close()
    assert str(deployment.pk) not in by_deployment  # nothing half-started left behind
    assert by_deployment == {str(first.pk): ["running", "running"]}  # the old ones serve
    assert Deployment.objects.last_succeeded(web_service, environments["dev"]).pk == first.pk


def test_cancel_is_refused_to_who_may_not_deploy_where_the_deploy_stage_runs(
    celery_worker_thread, web_service, versions, personas, environments, api_for, admin_user
):
    """The developer may start and cancel runs of a Dev pipeline, but the run is deploying
    into Test, where the developer may not deploy: 403 naming why, and nothing changes
    (the deployment goes on, the run still runs) until someone who may deploy there
    cancels it."""
    v1, _ = versions
    document = dict(web_service.configs.get(environment=environments["dev"]).document)
    document |= {"replicas": 1, "port": stack.free_port_base(), "strategy": {"type": "recreate"},
                 "health_check": {"http_path": "/never", "interval": 0.5, "timeout": 1, "retries": 20}}  # fmt: skip
    actions.save_config(admin_user, web_service, environments["test"], document)
    admin = api_for("developer")
    admin.force_authenticate(admin_user)
    run_id = _start_run(
        admin, web_service,
        "  - {name: smoke, kind: test, environment: dev, command: 'true'}\n"
        "  - {name: ship, kind: deploy, environment: test}\n",
        digest=v1,
    )  # fmt: skip
    deployment = _until(
        lambda: Deployment.objects.filter(
            service=web_service, environment=environments["test"], status="running"
        ).first(),
        60,
        "the deploy stage's deployment to run",
    )

    refused = api_for("developer").post(reverse("pipeline-run-cancel", args=[run_id]))
    assert refused.status_code == 403, refused.data
    assert refused.data["detail"] == (
        "Stage ship is deploying where you may not deploy: someone who may deploy there "
        "must cancel this run."
    )
    deployment.refresh_from_db()
    assert deployment.status == "running"
    assert not deployment.events.filter(kind="cancel").exists()
    assert admin.get(reverse("pipeline-run-detail", args=[run_id])).data["status"] == "running"

    assert admin.post(reverse("pipeline-run-cancel", args=[run_id])).status_code == 200
    deployment = _until(
        lambda: (d := Deployment.objects.get(pk=deployment.pk)).status not in d.ACTIVE and d,
        60,
        "the deployment to stop",
    )
    assert deployment.status == "cancelled"
    assert deployment.reason == f"pipeline run cancelled by {admin_user.username}"
