"""Fixtures against the real engine, registry and a real Celery worker: deployments,
bare containers, API tokens."""

from __future__ import annotations

import time
import uuid

import docker
import pytest
import requests
from asgiref.sync import sync_to_async
from celery.contrib.testing.worker import start_worker

from environments import actions, engine
from environments.models import Deployment, Service
from portal.celery import app as celery_app
from portal.core.tokens import create_token
from registry.client import RegistryClient
from registry.models import Registry
from tests import stack
from tests.registries import image_variant

HTTP_COMMAND = [
    "sh",
    "-c",
    "busybox mkdir -p /www && echo ok > /www/health && exec httpd -f -p 127.0.0.1:$PORT -h /www",
]


@pytest.fixture
def run_container(docker_host):
    """``run_container(script, env="dev", labels=None, name=None, **options)``: a real
    container of the test image labelled for ``env`` (no network), removed afterwards."""
    client = docker.DockerClient(base_url=docker_host, version="auto")
    started = []

    def run(script: str, env: str = "dev", labels: dict | None = None, name=None, **options):
        container = client.containers.run(
            stack.TEST_IMAGE,
            ["sh", "-c", script],
            name=name or f"berth-ct-{uuid.uuid4().hex[:10]}",
            labels={engine.LABEL_ENVIRONMENT: env, **(labels or {})},
            network_mode="none",
            detach=True,
            **options,
        )
        started.append(container)
        return container

    yield run
    for container in started:
        container.remove(force=True)
    client.close()


@pytest.fixture
def secret_for(personas):
    """``await secret_for(persona)``: a new API token of that persona."""

    async def make(persona: str) -> str:
        return (await sync_to_async(create_token)(personas[persona], "tests"))[1]

    return make


@pytest.fixture
def celery_worker_thread(docker_host):
    """A real Celery worker (solo pool, in a thread) consuming the in-process broker."""
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        yield


@pytest.fixture
def demo_registry(db, registry_url, environments, admin_user):
    registry = Registry.objects.create(name="local", url=registry_url, verify_tls=False)
    for environment in environments.values():
        actions.update_environment(admin_user, environment, registry=registry)
    return registry


@pytest.fixture
def versions(demo_registry):
    """Two runnable digests of demo/app: v1 (the stack's image) and v2 (a variant)."""
    client = RegistryClient(demo_registry.url)
    v1 = client.resolve("demo/app", "latest")
    v2 = image_variant(client, "demo/app", v1, uuid.uuid4().hex).digest
    return v1, v2


@pytest.fixture
def web_service(demo_registry, environments, personas):
    """A service serving HTTP on loopback, two replicas, each on its own port."""
    service = Service.objects.create(
        name=f"web{uuid.uuid4().hex[:6]}", registry=demo_registry, repository="demo/app"
    )
    base = stack.free_port_base()
    document = {
        "replicas": 2,
        "command": HTTP_COMMAND,
        "port": base,
        "health_check": {"http_path": "/health", "interval": 0.5, "timeout": 1, "retries": 2},
        "strategy": {"type": "rolling", "batch_size": 1},
        "stop_grace_period": 1,  # busybox httpd as PID 1 ignores SIGTERM
    }
    actions.save_config(personas["developer"], service, environments["dev"], document)
    yield service
    client = docker.DockerClient(base_url=environments["dev"].endpoint_url, version="auto")
    for container in client.containers.list(
        all=True, filters={"label": f"{engine.LABEL_SERVICE}={service.name}"}
    ):
        container.remove(force=True)
    for swarm_service in client.services.list(
        filters={"label": f"{engine.LABEL_SERVICE}={service.name}"}
    ):
        swarm_service.remove()
    client.close()


def wait_finished(deployment: Deployment, timeout: float = 90) -> Deployment:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        deployment.refresh_from_db()
        if deployment.status not in Deployment.ACTIVE:
            return deployment
        time.sleep(0.2)
    raise AssertionError(f"deployment {deployment.pk} still {deployment.status} after {timeout} s")


def serving(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/health", timeout=1).text.strip() == "ok"
    except requests.RequestException:
        return False


def owned(environment, service) -> list:
    client = docker.DockerClient(base_url=environment.endpoint_url, version="auto")
    try:
        return client.containers.list(
            all=True, filters={"label": f"{engine.LABEL_SERVICE}={service.name}"}
        )
    finally:
        client.close()
