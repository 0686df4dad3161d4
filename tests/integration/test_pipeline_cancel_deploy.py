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
    text = _digest_pipeline("  - {name: ship, kind: deploy, environment: dev}\n")
    created = api.post(
        reverse("pipeline-list"), {"service": web_service.name, "name": "ship", "text": text},
        format="json",
    )  # fmt: skip
    assert created.status_code == 201, created.data
    started = api.post(
        reverse("pipeline-run", args=[created.data["id"]]), {"digest": v2}, format="json"
    )
    assert started.status_code == 202, started.data
    run_id = started.data["id"]

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
