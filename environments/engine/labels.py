"""The labels Berth puts on what it runs, and what they say about ownership.

Containers carry ``berth.service``, ``berth.environment``, ``berth.deployment``,
``berth.revision``, ``berth.slot``, ``berth.port`` and ``berth.colour``; Berth only ever
touches containers whose labels say they are its own.
"""

from __future__ import annotations

from environments.engine.client import EngineUnavailable
from environments.engine.endpoint import Endpoint

__all__ = [
    "LABEL_COLOUR",
    "LABEL_DEPLOYMENT",
    "LABEL_ENVIRONMENT",
    "LABEL_PORT",
    "LABEL_PREFIX",
    "LABEL_REVISION",
    "LABEL_SERVICE",
    "LABEL_SLOT",
    "NotOwned",
    "owns_container",
    "owns_swarm_service",
    "swarm_service_name",
    "volume_name",
]

LABEL_PREFIX = "berth."
LABEL_ENVIRONMENT = "berth.environment"
LABEL_SERVICE = "berth.service"
LABEL_DEPLOYMENT = "berth.deployment"
LABEL_REVISION = "berth.revision"
LABEL_SLOT = "berth.slot"
LABEL_PORT = "berth.port"
LABEL_COLOUR = "berth.colour"


def owns_container(environment: Endpoint, labels: dict | None) -> bool:
    """Whether a container with ``labels`` belongs to ``environment`` (see
    ``only_labelled_containers``: several environments may share one engine)."""
    if not environment.only_labelled_containers:
        return True
    return (labels or {}).get(LABEL_ENVIRONMENT) == environment.slug


class NotOwned(EngineUnavailable):
    """Something on the engine has the name Berth would use, but not Berth's labels."""


def owns_swarm_service(environment: Endpoint, service: str, labels: dict | None) -> bool:
    """Whether a Swarm service with ``labels`` is Berth's ``service`` of ``environment``:
    always checked, since a Swarm service name is global on the engine."""
    labels = labels or {}
    return (
        labels.get(LABEL_SERVICE) == service and labels.get(LABEL_ENVIRONMENT) == environment.slug
    )


def swarm_service_name(service, environment: Endpoint) -> str:
    """The Swarm service a ``swarm`` deployment of ``service`` runs in ``environment``."""
    return f"{service.name}-{environment.slug}"


def volume_name(environment: Endpoint, name: str) -> str:
    """The engine volume that a config's named volume ``name`` is in ``environment``: one
    per environment, so the same name in Dev and in Ops is two volumes and Dev never
    reaches Ops' data, whatever was named first or is left behind. Slugs hold no dot,
    so no two (environment, name) pairs give one volume."""
    return f"berth.{environment.slug}.{name}"
