"""A Celery worker process killed in the middle of a deployment: the deployment is
finished as failed within a bounded time by the reaper running in another worker, and
what the dead worker started is removed."""

import time
import uuid

import docker
import pytest
import requests

from environments import engine
from tests.servers import PortalServer
from tests.stack import free_port_base

pytestmark = pytest.mark.integration

SLOW_HEALTH = {"http_path": "/never", "interval": 1, "timeout": 1, "retries": 20}


@pytest.fixture
def server(tmp_path, docker_host, redis_url):
    portal = PortalServer(tmp_path, "redis", redis_url.rsplit("/", 1)[0] + "/9")
    portal.env["BERTH_DEPLOYMENT_STALE_AFTER"] = "5"
    portal.flush_broker()
    yield portal.start()
    portal.stop()


def _wait(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_killed_worker_leaves_a_failed_deployment_and_no_orphans(server, docker_host):
    from registry.client import RegistryClient
    from tests import stack

    api = requests.Session()
    api.headers["Authorization"] = f"Token {server.token('admin', 'berth-admin')}"
    name = f"crash{uuid.uuid4().hex[:6]}"
    assert api.post(
        f"{server.url}/api/services/",
        json={"name": name, "registry": "local", "repository": "demo/app"},
    ).ok
    service_id = api.get(f"{server.url}/api/services/").json()["results"][0]["id"]
    document = {
        "replicas": 1, "port": free_port_base(), "health_check": SLOW_HEALTH,
        "command": ["sh", "-c", "exec httpd -f -p 127.0.0.1:$PORT -h /"],
    }  # fmt: skip
    saved = api.post(
        f"{server.url}/api/services/{service_id}/configs/",
        json={"environment": "dev", "document": document},
    )
    assert saved.status_code == 201, saved.text
    digest = RegistryClient(stack.REGISTRY_URL).resolve("demo/app", "latest")
    created = api.post(
        f"{server.url}/api/deployments/",
        json={"service": name, "environment": "dev", "digest": digest},
    )
    assert created.status_code == 202, created.text
    url = f"{server.url}/api/deployments/{created.json()['id']}/"

    # Wait until the replica was started and the worker waits for its health, then kill it.
    _wait(
        lambda: any("Starting replica" in e["message"] for e in api.get(url).json()["events"]),
        60,
        "the replica to start",
    )
    worker = server.processes[1]
    server.kill(worker)  # and its beat, which would otherwise outlive it
    killed_at = time.monotonic()
    assert api.get(url).json()["status"] == "running"

    server.start_worker("celery-2")  # its beat runs the reaper
    final = _wait(lambda: (d := api.get(url).json())["status"] != "running" and d, 60, "the reaper")
    assert time.monotonic() - killed_at < 45
    assert final["status"] == "failed"
    assert "stopped reporting" in final["reason"] and "removed 1 new container" in final["reason"]

    client = docker.DockerClient(base_url=docker_host, version="auto")
    try:
        assert (
            client.containers.list(all=True, filters={"label": f"{engine.LABEL_SERVICE}={name}"})
            == []
        )
    finally:
        client.close()
