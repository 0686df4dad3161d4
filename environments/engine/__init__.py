"""The Docker adapter: every call to a Docker Engine or Swarm goes through this package.

It takes endpoints (:class:`~environments.engine.endpoint.Endpoint`, which an
Environment is) and never imports Berth's models, access or views. Errors from the SDK,
requests and the socket become :class:`EngineUnavailable` with a message a person can
act on, naming the environment and its endpoint, so callers show a state instead of
crashing. ``client`` is the one client factory, ``endpoint`` validates URLs, ``labels``
says what Berth owns, ``probe`` reads an endpoint's state, ``containers`` inspects and
operates one container, ``session`` runs a deployment's calls, ``streams`` holds
long-lived log, stats and event streams, ``exec`` runs a command with ``docker exec``. Callers write ``engine.probe(...)``.
"""

from environments.engine.client import ContainerMissing, EngineUnavailable, open_client
from environments.engine.containers import (
    CONTAINER_REFERENCE,
    container_document,
    find_container,
    inspect_container,
    operate_container,
    service_containers,
)
from environments.engine.endpoint import ENDPOINT_FIELDS, Endpoint, validate_endpoint_url
from environments.engine.exec import ExecProcess, NotRunning
from environments.engine.labels import (
    LABEL_COLOUR,
    LABEL_DEPLOYMENT,
    LABEL_ENVIRONMENT,
    LABEL_PORT,
    LABEL_PREFIX,
    LABEL_REVISION,
    LABEL_SERVICE,
    LABEL_SLOT,
    NotOwned,
    owns_container,
    owns_swarm_service,
    swarm_service_name,
)
from environments.engine.probe import ContainerSummary, EndpointState, list_containers, probe
from environments.engine.session import EngineSession, Replica, session
from environments.engine.streams import (
    container_exit,
    event_stream,
    find_swarm_service,
    log_stream,
    service_log_stream,
    stats_stream,
    swarm_service_exists,
    swarm_tasks,
)

__all__ = [
    "ENDPOINT_FIELDS",
    "CONTAINER_REFERENCE",
    "ContainerMissing",
    "ContainerSummary",
    "Endpoint",
    "EndpointState",
    "EngineSession",
    "EngineUnavailable",
    "ExecProcess",
    "LABEL_COLOUR",
    "LABEL_DEPLOYMENT",
    "LABEL_ENVIRONMENT",
    "LABEL_PORT",
    "LABEL_PREFIX",
    "LABEL_REVISION",
    "LABEL_SERVICE",
    "LABEL_SLOT",
    "NotOwned",
    "NotRunning",
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
    "operate_container",
    "owns_container",
    "owns_swarm_service",
    "probe",
    "service_containers",
    "service_log_stream",
    "session",
    "stats_stream",
    "swarm_service_exists",
    "swarm_service_name",
    "swarm_tasks",
    "validate_endpoint_url",
]
