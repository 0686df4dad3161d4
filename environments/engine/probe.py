"""What an endpoint is like now: its state (version, size, load, Swarm role) and the
containers on it that belong to an environment."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from environments.engine.client import EngineUnavailable, _api_versions, open_client
from environments.engine.endpoint import SWARM, Endpoint
from environments.engine.labels import LABEL_ENVIRONMENT

__all__ = [
    "ContainerSummary",
    "EndpointState",
    "health_of",
    "image_reference",
    "list_containers",
    "probe",
]


@dataclass
class EndpointState:
    """What Berth knows of an endpoint at one moment; unreachable is a state, not an error."""

    reachable: bool
    checked_at: str
    error: str = ""
    warning: str = ""
    engine_version: str = ""
    api_version: str = ""
    operating_system: str = ""
    swarm_active: bool = False
    swarm_manager: bool = False
    nodes: int = 0
    cpus: int = 0
    memory_bytes: int = 0
    containers_running: int = 0  # the environment's (its labelled ones, when it is so set)
    containers_total: int = 0
    engine_containers_running: int = 0  # everything on the engine, other environments too

    def as_dict(self) -> dict:
        return asdict(self)


def probe(environment: Endpoint) -> EndpointState:
    """Ask the endpoint for its version, size and load; never raises for a dead endpoint."""
    now = datetime.now(UTC).isoformat()
    _api_versions.pop(environment.endpoint_url, None)  # re-negotiate: the engine may have changed
    try:
        with open_client(environment) as client:
            info = client.info()
            version = client.version()
            swarm = info.get("Swarm") or {}
            active = swarm.get("LocalNodeState") == "active"
            manager = bool(swarm.get("ControlAvailable"))
            state = EndpointState(
                reachable=True,
                checked_at=now,
                engine_version=version.get("Version", ""),
                api_version=version.get("ApiVersion", ""),
                operating_system=info.get("OperatingSystem", ""),
                swarm_active=active,
                swarm_manager=manager,
                nodes=int(swarm.get("Nodes") or 0) if active else 1,
                cpus=int(info.get("NCPU") or 0),
                memory_bytes=int(info.get("MemTotal") or 0),
                containers_running=int(info.get("ContainersRunning") or 0),
                containers_total=int(info.get("Containers") or 0),
                engine_containers_running=int(info.get("ContainersRunning") or 0),
            )
            if environment.only_labelled_containers:
                # The engine's figures count every environment sharing it: count ours.
                owned = client.api.containers(
                    all=True, filters={"label": f"{LABEL_ENVIRONMENT}={environment.slug}"}
                )
                state.containers_total = len(owned)
                state.containers_running = sum(1 for c in owned if c.get("State") == "running")
    except EngineUnavailable as exc:
        return EndpointState(reachable=False, checked_at=now, error=str(exc))
    if environment.mode == SWARM and not (active and manager):
        state.warning = (
            "This environment is set to Swarm mode but the engine is not a Swarm manager: "
            "run `docker swarm init` there, or switch the environment to standalone."
        )
    return state


@dataclass
class ContainerSummary:
    """One container as the portal lists it."""

    id: str
    short_id: str
    name: str
    image: str
    image_id: str
    image_digest: str
    state: str
    status: str
    health: str
    created: str
    ports: list[dict] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    network_mode: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def health_of(status: str) -> str:
    for word in ("unhealthy", "healthy", "health: starting"):
        if f"({word})" in status:
            return word.replace("health: ", "")
    return ""


def image_reference(image: str, repo_digests: list[str]) -> str:
    """``registry/repository@digest`` of what a container runs, or "" when unknown.

    One image may carry the same digest in several repositories (RepoDigests lists them
    all, in no useful order): the container's own image reference decides which
    repository it runs from. Berth's containers are created by digest, so their
    reference is exact; for others, the RepoDigest of the repository they were started
    from, and nothing when that cannot be told.
    """
    if "@sha256:" in image:
        return image
    repository = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    matching = [ref for ref in repo_digests if ref.split("@", 1)[0] == repository]
    if matching:
        return matching[0]
    return repo_digests[0] if len(repo_digests) == 1 and not image else ""


def list_containers(environment: Endpoint, *, every_owner: bool = False) -> list[ContainerSummary]:
    """Containers on the endpoint belonging to ``environment`` (all states), newest first;
    with ``every_owner``, every container on the endpoint, for a caller that sorts them
    out among several environments sharing it (``owns_container``).

    Two API calls whatever the count: the container list, and the image list to map
    image ids to registry digests.
    """
    filters = {}
    if environment.only_labelled_containers and not every_owner:
        filters["label"] = f"{LABEL_ENVIRONMENT}={environment.slug}"
    with open_client(environment) as client:
        rows = client.api.containers(all=True, filters=filters)
        digests = {image["Id"]: image.get("RepoDigests") or [] for image in client.api.images()}
    summaries = []
    for row in rows:
        status = row.get("Status", "")
        summaries.append(
            ContainerSummary(
                id=row["Id"],
                short_id=row["Id"][:12],
                name=(row.get("Names") or ["/"])[0].lstrip("/"),
                image=row.get("Image", ""),
                image_id=row.get("ImageID", ""),
                image_digest=image_reference(
                    row.get("Image", ""), digests.get(row.get("ImageID", ""), [])
                ),
                state=row.get("State", ""),
                status=status,
                health=health_of(status),
                created=datetime.fromtimestamp(row.get("Created", 0), UTC).isoformat(),
                ports=[
                    {k: p[k] for k in ("IP", "PrivatePort", "PublicPort", "Type") if k in p}
                    for p in row.get("Ports") or []
                ],
                labels=row.get("Labels") or {},
                network_mode=(row.get("HostConfig") or {}).get("NetworkMode", ""),
            )
        )
    summaries.sort(key=lambda c: c.created, reverse=True)
    return summaries
