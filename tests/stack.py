"""Where the real stack is, as scripts/stack.sh exported it, and whether it answers."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import docker
import requests

DOCKER_HOST = os.environ.get("DOCKER_HOST", "")
REGISTRY_URL = os.environ.get("BERTH_REGISTRY_URL", "")
REDIS_URL = os.environ.get("BERTH_STACK_REDIS_URL", "")
TEST_IMAGE = os.environ.get("BERTH_TEST_IMAGE", "berth/testapp:latest")
IN_CI = os.environ.get("CI", "").lower() == "true"


def docker_problem() -> str | None:
    if not DOCKER_HOST:
        return "DOCKER_HOST is not set (run the tests through `make test`)"
    try:
        client = docker.DockerClient(base_url=DOCKER_HOST, version="auto", timeout=5)
        client.ping()
        client.images.get(TEST_IMAGE)
        client.close()
    except docker.errors.ImageNotFound:
        return f"the test image {TEST_IMAGE} is missing (scripts/build-test-image.sh)"
    except Exception as exc:  # noqa: BLE001
        return f"no Docker Engine at {DOCKER_HOST}: {exc}"
    return None


def registry_problem() -> str | None:
    if not REGISTRY_URL:
        return "BERTH_REGISTRY_URL is not set"
    try:
        response = requests.get(f"{REGISTRY_URL}/v2/", timeout=5)
    except requests.RequestException as exc:
        return f"no registry at {REGISTRY_URL}: {exc}"
    return (
        None if response.status_code in (200, 401) else f"registry answered {response.status_code}"
    )


def redis_problem() -> str | None:
    if not REDIS_URL:
        return "BERTH_STACK_REDIS_URL is not set"
    parts = urlsplit(REDIS_URL)
    try:
        with socket.create_connection((parts.hostname, parts.port or 6379), timeout=3) as sock:
            sock.sendall(b"PING\r\n")
            if not sock.recv(16).startswith(b"+PONG"):
                return f"Redis at {REDIS_URL} did not answer PONG"
    except OSError as exc:
        return f"no Redis at {REDIS_URL}: {exc}"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_BASES_GIVEN: set[int] = set()


BASE_SPACING = 20


def free_port_base(replicas: int = 10) -> int:
    """A base port for a service's replicas: blue ports ``base..base+replicas`` and green
    ports ``base+100..`` are all free on loopback now, and no other caller in this process
    was given the same base (bases are 20 apart, so up to 19 replicas each). Bases lie
    in 20000-32599, below the kernel's ephemeral range (32768+), so the ports
    :func:`free_port` hands out and outgoing connections never land on a replica's
    port."""
    import random

    if replicas >= BASE_SPACING:
        raise ValueError(f"at most {BASE_SPACING - 1} replicas per base")
    # Five bases in each 200 ports: blue ones base..base+19 below 100, green ones
    # 100 higher, so no two bases' blue or green ranges meet (315 bases in all).
    bases = [
        block + BASE_SPACING * k
        for block in range(20000, 32600, 200)
        for k in range(100 // BASE_SPACING)
        if block + BASE_SPACING * k not in _BASES_GIVEN
    ]
    random.shuffle(bases)
    for base in bases:
        try:
            for port in [base + o + s for o in (0, 100) for s in range(replicas + 1)]:
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        _BASES_GIVEN.add(base)
        return base
    raise RuntimeError("no free block of replica ports between 20000 and 32600")


def remove_service_containers(docker_host: str, service: str) -> None:
    """Remove every container Berth labelled as a replica of ``service`` (test clean-up)."""
    from environments.engine import LABEL_SERVICE

    engine = docker.DockerClient(base_url=docker_host, version="auto")
    try:
        for container in engine.containers.list(
            all=True, filters={"label": f"{LABEL_SERVICE}={service}"}
        ):
            container.remove(force=True)
    finally:
        engine.close()
