"""Entry points on a real single-node Swarm: the routing mesh needs bridge networking
and iptables, which these engines do not have, so Swarm tasks listen on ports of their
own (host networking) and the same HAProxy follows them. A client sends ~150 requests a
second (loopback, bounded) during a start-first Swarm update: none may fail."""

from __future__ import annotations

import uuid

import docker
import pytest
from django.urls import reverse

from environments import actions
from environments.models import Deployment, EntryPoint, Environment, ProxyServer, Service
from tests import stack
from tests.integration.conftest import wait_finished
from tests.integration.test_traffic import VERSIONED_HTTP, proxy_dir  # noqa: F401 - a fixture
from tests.traffic_client import Load

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def swarm_service(docker_host, admin_user, demo_registry, personas, proxy_dir):  # noqa: F811
    """A service with one entry point on a Swarm environment; its Swarm service is
    removed afterwards."""
    environment = actions.create_environment(
        admin_user, name="Stage", slug="stage", position=25, endpoint_url=docker_host,
        mode=Environment.Mode.SWARM, registry=demo_registry, allow_host_network=True,
    )  # fmt: skip
    actions.grant_role(admin_user, environment, role="developer", to_user=personas["developer"])
    service = Service.objects.create(
        name=f"sw{uuid.uuid4().hex[:6]}", registry=demo_registry, repository="demo/app"
    )
    yield environment, service
    client = docker.DockerClient(base_url=docker_host, version="auto")
    for leftover in client.services.list(filters={"name": f"{service.name}-stage"}):
        leftover.remove()
    client.close()


def _document(version: str, base: int, entry: int) -> dict:
    return {
        "replicas": 2,
        "command": VERSIONED_HTTP,
        "env": {"VERSION": version},
        "port": base,
        "network_mode": "host",
        "health_check": {"http_path": "/health", "interval": 0.5, "timeout": 1, "retries": 2},
        "strategy": {"type": "swarm", "parallelism": 1, "monitor": 1},
        "stop_grace_period": 1,  # busybox httpd as PID 1 ignores SIGTERM
        "entry_points": [{"port": entry}],
    }


def _deploy(api, service, digest) -> Deployment:
    response = api.post(
        reverse("deployment-list"),
        {"service": service.name, "environment": "stage", "digest": digest},
        format="json",
    )
    assert response.status_code == 202, response.data
    deployment = wait_finished(Deployment.objects.get(pk=response.data["id"]), timeout=150)
    assert deployment.status == "succeeded", deployment.reason
    return deployment


def test_an_entry_point_answers_through_a_swarm_update_without_a_failed_request(
    swarm_service, versions, personas, api_for, celery_worker_thread
):
    environment, service = swarm_service
    v1, v2 = versions
    base, entry = stack.free_port_base(), stack.free_port()
    developer, api = personas["developer"], api_for("developer")
    actions.save_config(developer, service, environment, _document("v1", base, entry))
    first = _deploy(api, service, v1)
    rows = ProxyServer.objects.filter(service=service, environment=environment)
    assert sorted((r.port, r.colour, r.state) for r in rows) == [
        (base, "blue", "ready"), (base + 1, "blue", "ready"),
    ]  # fmt: skip
    url = f"http://127.0.0.1:{EntryPoint.objects.get(service=service).port}/"
    assert Load(url).get().body == "v1"

    actions.save_config(developer, service, environment, _document("v2", base, entry))
    with Load(url, rate=150, max_requests=6000) as load:
        second = _deploy(api, service, v2)
    failures = load.failures
    assert not failures, f"{len(failures)} of {len(load.results)} failed: {failures[:3]}"
    assert len(load.results) > 100, "the client hardly ran"
    seen = load.versions()
    assert seen[0] == "v1" and seen[-1] == "v2", seen
    # The new tasks took the other colour's ports, so each started beside the old one
    # of its slot; the old ones drained and left.
    assert sorted((r.port, r.colour, r.deployment_id) for r in rows.all()) == [
        (base + 100, "green", second.pk), (base + 101, "green", second.pk),
    ]  # fmt: skip
    messages = [e.message for e in second.events.all()]
    assert any("added to the entry point" in m for m in messages), messages
    assert any(m.startswith("Draining task") for m in messages), messages
    assert first.pk not in set(rows.values_list("deployment_id", flat=True))


def _operate(api, service, verb: str) -> Deployment:
    response = api.post(
        reverse(f"service-{verb}", args=[service.pk]), {"environment": "stage"}, format="json"
    )
    assert response.status_code == 202, response.data
    operation = wait_finished(Deployment.objects.get(pk=response.data["id"]), timeout=150)
    assert operation.status == "succeeded", operation.reason
    return operation


def test_a_swarm_restart_behind_an_entry_point_drops_no_request_and_a_stop_leaves_it(
    swarm_service, versions, personas, api_for, celery_worker_thread
):
    environment, service = swarm_service
    v1, _ = versions
    base = stack.free_port_base()
    actions.save_config(
        personas["developer"], service, environment, _document("v1", base, stack.free_port())
    )
    api = api_for("developer")
    _deploy(api, service, v1)
    url = f"http://127.0.0.1:{EntryPoint.objects.get(service=service).port}/"
    # A forced update would start each new task on its old one's port; the restart moves
    # the tasks to the other colour's ports instead, behind the entry point.
    with Load(url, rate=150, max_requests=6000) as load:
        restart = _operate(api, service, "restart")
    assert not load.failures, f"{len(load.failures)} failed: {load.failures[:3]}"
    assert len(load.results) > 100 and set(load.versions()) == {"v1"}
    rows = ProxyServer.objects.filter(service=service, environment=environment)
    assert sorted((r.port, r.deployment_id) for r in rows) == [
        (base + 100, restart.pk), (base + 101, restart.pk),
    ]  # fmt: skip

    stop = _operate(api, service, "stop")
    assert not rows.all().exists(), [
        e.message for e in stop.events.order_by("seq")
    ]  # no task runs: none is left behind the entry point
    assert not Load(url).get().ok
