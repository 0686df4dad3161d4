"""Endpoints: connecting, probing, listing containers, and turning Docker's errors into
:class:`EngineUnavailable` messages a person can act on."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import docker
import requests
from django.conf import settings
from docker.tls import TLSConfig

if TYPE_CHECKING:
    from environments.models import Environment

LABEL_PREFIX = "berth."
LABEL_ENVIRONMENT = "berth.environment"


class EngineUnavailable(Exception):
    """The environment's Docker endpoint could not be used; ``str()`` says why."""


def validate_endpoint_url(url: str) -> str:
    """Normalise and check a Docker endpoint URL; raises ValueError with the reason."""
    url = (url or "").strip()
    if not url:
        raise ValueError("Give the Docker endpoint, e.g. unix:///var/run/docker.sock.")
    parts = urlsplit(url)
    if parts.scheme == "unix":
        if not parts.path.startswith("/") or parts.netloc:
            raise ValueError(
                f"{url!r} is not a socket path: write unix:///absolute/path/docker.sock "
                "(three slashes)."
            )
        return url
    if parts.scheme == "tcp":
        try:
            port = parts.port
        except ValueError:
            raise ValueError(f"{url!r} has an invalid port number.") from None
        if not parts.hostname:
            raise ValueError(f"{url!r} has no host: write tcp://host:2376.")
        if port is None:
            raise ValueError(f"{url!r} has no port: write tcp://{parts.hostname}:2376.")
        if parts.path not in ("", "/") or parts.query:
            raise ValueError(f"{url!r}: a tcp:// endpoint is just host and port.")
        return f"tcp://{parts.netloc}"
    if parts.scheme in ("http", "https"):
        raise ValueError(f"{url!r}: Docker endpoints use tcp://host:port, not {parts.scheme}://.")
    raise ValueError(f"{url!r}: the endpoint must start with unix:// or tcp://.")


def _reason(exc: BaseException) -> str:
    """A short human reason for a connection failure, from the innermost cause."""
    seen: list[BaseException] = []
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.append(current)
        for arg in getattr(current, "args", ()):
            if isinstance(arg, BaseException):
                pending.append(arg)
        for nxt in (current.__cause__, current.__context__):
            if nxt is not None:
                pending.append(nxt)
    for current in seen:
        code = getattr(current, "errno", None)
        if code == errno.ENOENT:
            return "the socket does not exist (is the engine running?)"
        if code == errno.ECONNREFUSED:
            return "connection refused (is the engine listening there?)"
        if code == errno.EACCES:
            return "permission denied on the socket"
    for current in seen:
        if isinstance(current, requests.exceptions.Timeout | TimeoutError):
            return f"no answer within {settings.DOCKER_TIMEOUT} s"
        if isinstance(current, requests.exceptions.SSLError):
            return f"TLS handshake failed: {current}"
    if isinstance(exc, docker.errors.APIError):
        return exc.explanation or str(exc)
    return str(exc) or exc.__class__.__name__


# Negotiated API version per endpoint: "auto" costs a round trip on every new client.
# A wrong cached value is harmless: the engine answers with a clear error and a probe
# (which always negotiates, see probe()) refreshes it.
_api_versions: dict[str, str] = {}


@contextlib.contextmanager
def open_client(
    environment: Environment, *, timeout: int | None = None
) -> Iterator[docker.DockerClient]:
    """A DockerClient for ``environment``'s endpoint, closed on exit.

    TLS material lives in the database; the SDK wants files, so they exist only in a
    private temporary directory for the client's lifetime.
    """
    timeout = timeout or settings.DOCKER_TIMEOUT
    with tempfile.TemporaryDirectory(prefix="berth-tls-") as tmp:
        tls = None
        if environment.uses_tls:
            tls = _tls_config(environment, tmp)
        known = _api_versions.get(environment.endpoint_url)
        try:
            client = docker.DockerClient(
                base_url=environment.endpoint_url, version=known or "auto", timeout=timeout, tls=tls
            )
            _api_versions[environment.endpoint_url] = client.api.api_version
        except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
            raise EngineUnavailable(_unavailable(environment, exc)) from exc
        try:
            yield client
        except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
            raise EngineUnavailable(_unavailable(environment, exc)) from exc
        finally:
            client.close()


def _unavailable(environment: Environment, exc: BaseException) -> str:
    return (
        f"Cannot reach the Docker endpoint of {environment.name} "
        f"({environment.endpoint_url}): {_reason(exc)}."
    )


def _tls_config(environment: Environment, directory: str) -> TLSConfig:
    def write(name: str, content: str) -> str | None:
        if not content:
            return None
        path = os.path.join(directory, name)
        with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as handle:
            handle.write(content)
        return path

    ca = write("ca.pem", environment.tls_ca_cert)
    cert = write("cert.pem", environment.tls_client_cert)
    key = write("key.pem", environment.tls_client_key)
    return TLSConfig(client_cert=(cert, key) if cert and key else None, ca_cert=ca, verify=bool(ca))


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
    containers_running: int = 0
    containers_total: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def probe(environment: Environment) -> EndpointState:
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
            )
    except EngineUnavailable as exc:
        return EndpointState(reachable=False, checked_at=now, error=str(exc))
    if environment.mode == environment.Mode.SWARM and not (active and manager):
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

    def as_dict(self) -> dict:
        return asdict(self)


def _health(status: str) -> str:
    for word in ("unhealthy", "healthy", "health: starting"):
        if f"({word})" in status:
            return word.replace("health: ", "")
    return ""


def list_containers(environment: Environment) -> list[ContainerSummary]:
    """Containers on the endpoint belonging to ``environment`` (all states), newest first.

    Two API calls whatever the count: the container list, and the image list to map
    image ids to registry digests.
    """
    filters = {}
    if environment.only_labelled_containers:
        filters["label"] = f"{LABEL_ENVIRONMENT}={environment.slug}"
    with open_client(environment) as client:
        rows = client.api.containers(all=True, filters=filters)
        digests = {
            image["Id"]: (image.get("RepoDigests") or [""])[0] for image in client.api.images()
        }
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
                image_digest=digests.get(row.get("ImageID", ""), ""),
                state=row.get("State", ""),
                status=status,
                health=_health(status),
                created=datetime.fromtimestamp(row.get("Created", 0), UTC).isoformat(),
                ports=[
                    {k: p[k] for k in ("IP", "PrivatePort", "PublicPort", "Type") if k in p}
                    for p in row.get("Ports") or []
                ],
                labels=row.get("Labels") or {},
            )
        )
    summaries.sort(key=lambda c: c.created, reverse=True)
    return summaries
