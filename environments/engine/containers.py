"""One container at a time: its inspect document (whole, or summed up), finding one an
environment owns, the containers of a service, and restart, stop and start."""

from __future__ import annotations

import re

import docker
from django.conf import settings

from environments.engine.client import open_client
from environments.engine.endpoint import Endpoint
from environments.engine.labels import owns_container
from environments.engine.session import CONTAINER_VERBS, session

__all__ = [
    "CONTAINER_REFERENCE",
    "CONTAINER_VERBS",
    "container_document",
    "find_container",
    "inspect_container",
    "operate_container",
    "service_containers",
]


# Docker's container references: an id, an id prefix or a name. Anything else never
# reaches the engine (".", for one, would make the inspect URL the container list's).
CONTAINER_REFERENCE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}")


def container_document(environment: Endpoint, reference: str) -> dict | None:
    """Docker's inspect document of the container ``reference`` (id, id prefix or name)
    on ``environment``'s endpoint, whoever owns it; None when there is none."""
    if not CONTAINER_REFERENCE.fullmatch(reference or ""):
        return None
    with open_client(environment) as client:
        try:
            return client.api.inspect_container(reference)
        except docker.errors.NotFound:
            return None


def operate_container(
    environment: Endpoint, container_id: str, verb: str, *, stop_timeout: int = 10
) -> dict:
    """Restart, stop or start a container; ``{"id", "name", "state"}`` afterwards.

    ``stop_timeout`` is how long Docker waits after SIGTERM before SIGKILL (restart and
    stop); the HTTP timeout covers it. Raises :class:`ContainerMissing` when the
    container is gone, EngineUnavailable when the engine refuses or cannot be reached.
    """
    with session(environment, timeout=settings.DOCKER_TIMEOUT + stop_timeout) as engine:
        return engine.operate(container_id, verb, stop_timeout=stop_timeout)


def inspect_container(environment: Endpoint, reference: str) -> dict | None:
    """``{id, name, tty, state, labels, image, health, exit_code, started_at,
    network_mode}`` of the
    container ``reference`` (id, id prefix or name) on ``environment``'s endpoint, whoever
    owns it; None when there is none. ``health`` is "" without a health check."""
    attrs = container_document(environment, reference)
    if attrs is None:
        return None
    config = attrs.get("Config") or {}
    state = attrs.get("State") or {}
    return {
        "id": attrs["Id"],
        "name": (attrs.get("Name") or "").lstrip("/"),
        "tty": bool(config.get("Tty")),
        "state": state.get("Status", ""),
        "labels": config.get("Labels") or {},
        "image": config.get("Image", ""),
        "health": (state.get("Health") or {}).get("Status", ""),
        "exit_code": state.get("ExitCode"),
        "started_at": state.get("StartedAt", ""),
        "network_mode": (attrs.get("HostConfig") or {}).get("NetworkMode", ""),
    }


def find_container(environment: Endpoint, reference: str) -> dict | None:
    """The container ``reference`` if ``environment`` owns it (see :func:`inspect_container`)."""
    found = inspect_container(environment, reference)
    if found is None or not owns_container(environment, found["labels"]):
        return None
    return found


def service_containers(environment: Endpoint, service: str) -> list[dict]:
    """The containers of a Berth service in ``environment`` (all states), each as
    :func:`inspect_container` describes it, by slot then name."""
    with session(environment) as engine_session:
        replicas = sorted(engine_session.replicas(service), key=lambda r: (r.slot, r.name))
    found = (inspect_container(environment, replica.id) for replica in replicas)
    return [container for container in found if container is not None]  # None: removed since
