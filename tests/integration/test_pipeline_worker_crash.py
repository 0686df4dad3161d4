"""A Celery worker process killed in the middle of a pipeline stage: the stage and the
run end failed within a bounded time (the reaper in another worker), never left running,
and the test container the dead worker started is removed."""

import time

import docker
import pytest
import requests

from tests.integration.test_worker_crash import _wait
from tests.servers import PortalServer

pytestmark = pytest.mark.integration


@pytest.fixture
def server(tmp_path, docker_host, redis_url):
    portal = PortalServer(tmp_path, "redis", redis_url.rsplit("/", 1)[0] + "/10")
    portal.env["BERTH_DEPLOYMENT_STALE_AFTER"] = "5"
    portal.flush_broker()
    yield portal.start()
    portal.stop()


def test_a_killed_worker_leaves_no_pipeline_run_running(server, docker_host):
    from registry.client import RegistryClient
    from tests import stack

    api = requests.Session()
    api.headers["Authorization"] = f"Token {server.token('admin', 'berth-admin')}"
    assert api.post(
        f"{server.url}/api/services/",
        json={"name": "crashpipe", "registry": "local", "repository": "demo/app"},
    ).ok
    text = "stages:\n  - {name: long, kind: test, environment: dev, command: 'sleep 120'}\n"
    created = api.post(
        f"{server.url}/api/pipelines/", json={"service": "crashpipe", "name": "p", "text": text}
    )
    assert created.status_code == 201, created.text
    digest = RegistryClient(stack.REGISTRY_URL).resolve("demo/app", "latest")
    started = api.post(
        f"{server.url}/api/pipelines/{created.json()['id']}/run/", json={"digest": digest}
    )
    assert started.status_code == 202, started.text
    url = f"{server.url}/api/pipeline-runs/{started.json()['id']}/"
    client = docker.DockerClient(base_url=docker_host, version="auto")
    label = f"berth.pipeline-run={started.json()['id']}"

    def container_running():
        return client.containers.list(filters={"label": [label, "berth.stage=long"]})

    try:
        # Mid-stage: the test container runs (the "$ " line is written before it exists).
        _wait(container_running, 60, "the test container")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the run: {api.get(url).json()}\n{server.logs()}") from None

    worker = server.processes[1]
    server.kill(worker)  # and its beat, which would otherwise outlive it
    killed_at = time.monotonic()
    assert api.get(url).json()["status"] == "running"

    server.start_worker("celery-2")  # its beat runs the reaper
    final = _wait(lambda: (r := api.get(url).json())["status"] != "running" and r, 60, "the reaper")
    assert time.monotonic() - killed_at < 45
    assert final["status"] == "failed"
    stage = final["stages"][0]
    assert stage["status"] == "failed" and "stopped reporting" in stage["reason"]
    assert "removed 1 test container" in stage["reason"]
    try:
        assert client.containers.list(all=True, filters={"label": label}) == []
    finally:
        client.close()
