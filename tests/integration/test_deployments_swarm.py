"""Deployments to a real single-node Swarm: create, rolling update, and a failing update
that Swarm rolls back (a failed deployment, with the old version still running)."""

import docker
import pytest
from django.urls import reverse

from environments import actions
from environments.models import Deployment, Environment
from tests.integration.conftest import wait_finished

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

READY = ["sh", "-c", "echo up > /tmp/up && exec sleep 3600"]


@pytest.fixture
def swarm_env(docker_host, admin_user, demo_registry, personas):
    environment = actions.create_environment(
        admin_user, name="Stage", slug="stage", position=25, endpoint_url=docker_host,
        mode=Environment.Mode.SWARM, registry=demo_registry, allow_host_network=True,
    )  # fmt: skip
    actions.grant_role(admin_user, environment, role="developer", to_user=personas["developer"])
    return environment


def _config(health_command):
    return {
        "replicas": 2,
        "command": READY,
        "network_mode": "host",
        "health_check": {"command": health_command, "interval": 0.5, "timeout": 1, "retries": 2},
        "strategy": {"type": "swarm", "parallelism": 1, "order": "start-first", "monitor": 2},
    }


def _container_spec(environment, service) -> dict:
    client = docker.DockerClient(base_url=environment.endpoint_url, version="auto")
    try:
        spec = client.services.get(f"{service.name}-{environment.slug}").attrs["Spec"]
        return spec["TaskTemplate"]["ContainerSpec"]
    finally:
        client.close()


def _swarm_image(environment, service):
    return _container_spec(environment, service)["Image"]


def _deploy(api, service, digest):
    response = api.post(
        reverse("deployment-list"),
        {"service": service.name, "environment": "stage", "digest": digest},
        format="json",
    )
    assert response.status_code == 202, response.data
    return wait_finished(Deployment.objects.get(pk=response.data["id"]), timeout=120)


def test_a_swarm_service_is_created_then_updated(
    swarm_env, web_service, versions, personas, api_for, celery_worker_thread
):
    v1, v2 = versions
    config = dict(_config(["cat", "/tmp/up"]), volumes=["shop-data:/data:ro"])
    actions.save_config(personas["developer"], web_service, swarm_env, config)
    api = api_for("developer")
    first = _deploy(api, web_service, v1)
    assert first.status == "succeeded", first.reason
    assert _swarm_image(swarm_env, web_service).endswith(v1)
    # The config's named volume is mounted, as the environment's own.
    mounts = _container_spec(swarm_env, web_service)["Mounts"]
    assert [(m["Type"], m["Source"], m["Target"], m.get("ReadOnly")) for m in mounts] == [
        ("volume", "berth.stage.shop-data", "/data", True)
    ]
    second = _deploy(api, web_service, v2)
    assert second.status == "succeeded", second.reason
    assert _swarm_image(swarm_env, web_service).endswith(v2)
    assert any("Task" in e.message for e in second.events.all())


def test_a_failing_swarm_update_is_rolled_back_and_reported_failed(
    swarm_env, web_service, versions, personas, api_for, celery_worker_thread
):
    v1, v2 = versions
    actions.save_config(personas["developer"], web_service, swarm_env, _config(["cat", "/tmp/up"]))
    api = api_for("developer")
    assert _deploy(api, web_service, v1).status == "succeeded"
    actions.save_config(
        personas["developer"], web_service, swarm_env, _config(["cat", "/nonexistent"])
    )
    failed = _deploy(api, web_service, v2)
    assert failed.status == "failed"
    assert "roll" in failed.reason.lower()
    assert _swarm_image(swarm_env, web_service).endswith(v1)


def _operate(api, service, verb):
    response = api.post(
        reverse(f"service-{verb}", args=[service.pk]), {"environment": "stage"}, format="json"
    )
    assert response.status_code == 202, response.data
    assert response.data["action"] == verb
    return wait_finished(Deployment.objects.get(pk=response.data["id"]), timeout=120)


def _running_tasks(environment, service) -> int:
    client = docker.DockerClient(base_url=environment.endpoint_url, version="auto")
    try:
        tasks = client.services.get(f"{service.name}-{environment.slug}").tasks()
        return sum((t.get("Status") or {}).get("State") == "running" for t in tasks)
    finally:
        client.close()


def test_stop_stops_the_swarm_service_and_restart_brings_it_back(
    swarm_env, web_service, versions, personas, api_for, celery_worker_thread
):
    import time

    v1, _ = versions
    actions.save_config(personas["developer"], web_service, swarm_env, _config(["cat", "/tmp/up"]))
    api = api_for("developer")
    assert _deploy(api, web_service, v1).status == "succeeded"
    stopped = _operate(api, web_service, "stop")
    assert stopped.status == "succeeded", stopped.reason
    time.sleep(3)  # Swarm would have replaced stopped task containers by now
    assert _running_tasks(swarm_env, web_service) == 0
    restarted = _operate(api, web_service, "restart")
    assert restarted.status == "succeeded", restarted.reason
    assert _running_tasks(swarm_env, web_service) == 2
    # Operations are not deployments: a rollback still goes back to a deployed digest.
    assert Deployment.objects.last_succeeded(web_service, swarm_env).action == "deploy"


def test_a_swarm_service_berth_does_not_own_is_left_alone(
    swarm_env, web_service, versions, personas, api_for, celery_worker_thread, docker_host
):
    from tests import stack

    client = docker.DockerClient(base_url=docker_host, version="auto")
    squatter = client.services.create(
        stack.TEST_IMAGE, ["sleep", "3600"], name=f"{web_service.name}-{swarm_env.slug}",
        labels={"owner": "someone else"}, networks=["host"],
    )  # fmt: skip
    try:
        actions.save_config(
            personas["developer"], web_service, swarm_env, _config(["cat", "/tmp/up"])
        )
        failed = _deploy(api_for("developer"), web_service, versions[0])
        assert failed.status == "failed"
        assert "labels do not say" in failed.reason
        squatter.reload()
        assert squatter.attrs["Spec"]["Labels"] == {"owner": "someone else"}  # untouched
    finally:
        squatter.remove()
        client.close()
