"""One container at a time: its full inspect document, and restart, stop and start."""

from __future__ import annotations

from typing import TYPE_CHECKING

import docker

if TYPE_CHECKING:
    from environments.models import Environment

from environments.engine.core import open_client
from environments.engine.streams import ContainerMissing

CONTAINER_VERBS = ("restart", "stop", "start")


def container_document(environment: Environment, reference: str) -> dict | None:
    """Docker's inspect document of the container ``reference`` (id, id prefix or name)
    on ``environment``'s endpoint, whoever owns it; None when there is none."""
    with open_client(environment) as client:
        try:
            return client.api.inspect_container(reference)
        except docker.errors.NotFound:
            return None


def operate_container(
    environment: Environment, container_id: str, verb: str, *, stop_timeout: int = 10
) -> dict:
    """Restart, stop or start a container; ``{"id", "name", "state"}`` afterwards.

    ``stop_timeout`` is how long Docker waits after SIGTERM before SIGKILL (restart and
    stop); docker-py adds it to the HTTP timeout. Raises :class:`ContainerMissing` when
    the container is gone, EngineUnavailable when the engine refuses or cannot be reached.
    """
    if verb not in CONTAINER_VERBS:
        raise ValueError(f"Unknown container operation {verb!r}.")
    with open_client(environment) as client:
        try:
            if verb == "start":
                client.api.start(container_id)
            else:
                getattr(client.api, verb)(container_id, timeout=stop_timeout)
            attrs = client.api.inspect_container(container_id)
        except docker.errors.NotFound as exc:
            raise ContainerMissing(f"Container {container_id[:12]} no longer exists.") from exc
    return {
        "id": attrs["Id"],
        "name": (attrs.get("Name") or "").lstrip("/"),
        "state": (attrs.get("State") or {}).get("Status", ""),
    }
