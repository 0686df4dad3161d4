"""The Docker adapter: every call to a Docker Engine or Swarm goes through this package.

Errors from the SDK, requests and the socket become :class:`EngineUnavailable` with a
message a person can act on, naming the environment and its endpoint, so callers show a
state instead of crashing. ``core`` connects, probes and lists; ``session`` runs the
container and Swarm calls of a deployment; ``streams`` holds long-lived log and event
streams. Everything is re-exported here: callers write ``engine.probe(...)``.
"""

from environments.engine.containers import container_document, operate_container
from environments.engine.core import (
    LABEL_ENVIRONMENT,
    LABEL_PREFIX,
    ContainerSummary,
    EndpointState,
    EngineUnavailable,
    list_containers,
    open_client,
    probe,
    validate_endpoint_url,
)
from environments.engine.session import (
    LABEL_COLOUR,
    LABEL_DEPLOYMENT,
    LABEL_PORT,
    LABEL_REVISION,
    LABEL_SERVICE,
    LABEL_SLOT,
    EngineSession,
    Replica,
    session,
)
from environments.engine.streams import (
    ContainerMissing,
    container_exit,
    event_stream,
    find_container,
    find_swarm_service,
    inspect_container,
    log_stream,
    open_stream_client,
    owns_container,
    service_containers,
    service_log_stream,
    stats_stream,
    swarm_service_exists,
    swarm_tasks,
)

__all__ = [
    "ContainerMissing",
    "ContainerSummary",
    "EndpointState",
    "EngineSession",
    "EngineUnavailable",
    "LABEL_COLOUR",
    "LABEL_DEPLOYMENT",
    "LABEL_ENVIRONMENT",
    "LABEL_PORT",
    "LABEL_PREFIX",
    "LABEL_REVISION",
    "LABEL_SERVICE",
    "LABEL_SLOT",
    "Replica",
    "container_document",
    "container_exit",
    "event_stream",
    "find_container",
    "find_swarm_service",
    "inspect_container",
    "list_containers",
    "log_stream",
    "open_client",
    "open_stream_client",
    "operate_container",
    "owns_container",
    "probe",
    "service_containers",
    "service_log_stream",
    "session",
    "stats_stream",
    "swarm_service_exists",
    "swarm_tasks",
    "validate_endpoint_url",
]
