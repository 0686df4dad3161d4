"""The Docker adapter: every call to a Docker Engine or Swarm goes through here.

Errors from the SDK, requests and the socket are turned into
:class:`EngineUnavailable` with a message a person can act on, naming the
environment and its endpoint, so callers show a state instead of crashing.
"""

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

__all__ = [
    "ContainerSummary",
    "EngineSession",
    "Replica",
    "session",
    "EndpointState",
    "EngineUnavailable",
    "LABEL_ENVIRONMENT",
    "list_containers",
    "open_client",
    "probe",
    "validate_endpoint_url",
]

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


# --- Deployments -------------------------------------------------------------------------

LABEL_SERVICE = "berth.service"
LABEL_DEPLOYMENT = "berth.deployment"
LABEL_REVISION = "berth.revision"
LABEL_SLOT = "berth.slot"
LABEL_PORT = "berth.port"
LABEL_COLOUR = "berth.colour"


@dataclass
class Replica:
    """A container Berth owns, as its labels describe it."""

    id: str
    name: str
    state: str
    health: str
    slot: int
    port: int | None
    colour: str
    deployment: int
    exit_code: int = 0


class EngineSession:
    """One Docker connection for the length of a deployment: strategies call these
    methods, so every Docker call stays in this module."""

    def __init__(self, environment: Environment, client: docker.DockerClient):
        self.environment = environment
        self.client = client

    def _wrap(self, exc: BaseException) -> EngineUnavailable:
        return EngineUnavailable(_unavailable(self.environment, exc))

    # Images
    def pull(self, reference: str, on_progress) -> None:
        """Pull ``repo@digest``, reporting (bytes done, bytes total) as layers arrive."""
        repository, _, digest = reference.partition("@")
        layers: dict[str, tuple[int, int]] = {}
        try:
            for event in self.client.api.pull(repository, digest, stream=True, decode=True):
                if "error" in event:
                    raise EngineUnavailable(f"Pull of {reference} failed: {event['error']}")
                detail = event.get("progressDetail") or {}
                if event.get("id") and detail.get("total"):
                    layers[event["id"]] = (int(detail.get("current") or 0), int(detail["total"]))
                    on_progress(
                        sum(d for d, _ in layers.values()), sum(t for _, t in layers.values())
                    )
        except docker.errors.DockerException as exc:
            raise EngineUnavailable(f"Pull of {reference} failed: {_reason(exc)}") from exc

    # Containers
    def replicas(self, service: str) -> list[Replica]:
        """Every container of ``service`` in this environment, running or not."""
        filters = {
            "label": [f"{LABEL_SERVICE}={service}", f"{LABEL_ENVIRONMENT}={self.environment.slug}"]
        }
        try:
            rows = self.client.api.containers(all=True, filters=filters)
        except docker.errors.DockerException as exc:
            raise self._wrap(exc) from exc
        found = []
        for row in rows:
            labels = row.get("Labels") or {}
            found.append(
                Replica(
                    id=row["Id"],
                    name=(row.get("Names") or ["/"])[0].lstrip("/"),
                    state=row.get("State", ""),
                    health=_health(row.get("Status", "")),
                    slot=int(labels.get(LABEL_SLOT, 0)),
                    port=int(labels[LABEL_PORT]) if labels.get(LABEL_PORT) else None,
                    colour=labels.get(LABEL_COLOUR, "blue"),
                    deployment=int(labels.get(LABEL_DEPLOYMENT, 0)),
                )  # fmt: skip
            )
        return sorted(found, key=lambda r: (r.deployment, r.slot))

    def run(self, *, name: str, image: str, config: dict, labels: dict, port: int | None) -> str:
        """Create and start one replica; returns its id."""
        env = dict(config["env"])
        if port:
            env[config["port_env"]] = str(port)
        health = config.get("health_check")
        healthcheck = None
        if health:
            if health.get("command"):
                test = ["CMD", *health["command"]]
            else:
                test = [
                    "CMD-SHELL",
                    f"wget -q -O /dev/null http://127.0.0.1:{health.get('port') or port}{health['http_path']} || exit 1",
                ]
            healthcheck = {
                "test": test, "interval": int(health["interval"] * 1e9), "timeout": int(health["timeout"] * 1e9),
                "retries": health["retries"], "start_period": int(health["start_period"] * 1e9),
            }  # fmt: skip
        volumes = {}
        for spec in config["volumes"]:
            source, target, *mode = spec.split(":")
            volumes[source] = {"bind": target, "mode": mode[0] if mode else "rw"}
        command = [*config["command"], *config["args"]] or None
        try:
            container = self.client.containers.run(
                image, command=command, name=name, detach=True, environment=env,
                labels={**config["labels"], **labels}, network_mode=config["network_mode"],
                restart_policy={"Name": config["restart_policy"]} if config["restart_policy"] != "no" else None,
                healthcheck=healthcheck, volumes=volumes or None,
                mem_limit=config["memory"] or None,
                nano_cpus=int(config["cpus"] * 1e9) if config["cpus"] else None,
            )  # fmt: skip
        except docker.errors.DockerException as exc:
            raise EngineUnavailable(f"Could not start {name}: {_reason(exc)}") from exc
        return container.id

    def inspect(self, container_id: str) -> tuple[str, str, int]:
        """(state, health status, exit code) of a container."""
        try:
            state = self.client.api.inspect_container(container_id)["State"]
        except docker.errors.NotFound:
            return "removed", "", 0
        except docker.errors.DockerException as exc:
            raise self._wrap(exc) from exc
        return (
            state.get("Status", ""),
            (state.get("Health") or {}).get("Status", ""),
            int(state.get("ExitCode") or 0),
        )

    def logs_tail(self, container_id: str, lines: int = 5) -> str:
        try:
            return self.client.api.logs(container_id, tail=lines).decode(errors="replace").strip()
        except docker.errors.DockerException:
            return ""

    def stop(self, container_id: str, timeout: int = 10) -> None:
        try:
            self.client.api.stop(container_id, timeout=timeout)
        except docker.errors.NotFound:
            pass
        except docker.errors.DockerException as exc:
            raise self._wrap(exc) from exc

    def start(self, container_id: str) -> None:
        try:
            self.client.api.start(container_id)
        except docker.errors.DockerException as exc:
            raise self._wrap(exc) from exc

    def restart(self, container_id: str) -> None:
        try:
            self.client.api.restart(container_id, timeout=10)
        except docker.errors.DockerException as exc:
            raise self._wrap(exc) from exc

    def remove(self, container_id: str) -> None:
        try:
            self.client.api.remove_container(container_id, force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.DockerException as exc:
            raise self._wrap(exc) from exc

    # Swarm
    def swarm_service(self, name: str):
        try:
            return self.client.services.get(name)
        except docker.errors.NotFound:
            return None
        except docker.errors.DockerException as exc:
            raise self._wrap(exc) from exc

    def deploy_swarm(self, *, name: str, image: str, config: dict, labels: dict):
        """Create or update the Swarm service; returns (service, created)."""
        from docker.types import EndpointSpec, Healthcheck, Resources, RollbackConfig, UpdateConfig

        strategy = config["strategy"]
        update = UpdateConfig(
            parallelism=strategy.get("parallelism", 1), delay=int(strategy.get("delay", 0) * 1e9),
            order=strategy.get("order", "start-first"), failure_action=strategy.get("failure_action", "rollback"),
            monitor=int(strategy.get("monitor", 5) * 1e9),
        )  # fmt: skip
        rollback = RollbackConfig(parallelism=0, order=strategy.get("order", "start-first"))
        health = config.get("health_check")
        healthcheck = None
        if health:
            test = ["CMD", *health["command"]] if health.get("command") else [
                "CMD-SHELL", f"wget -q -O /dev/null http://127.0.0.1:{health.get('port') or config['port']}{health['http_path']} || exit 1"
            ]  # fmt: skip
            healthcheck = Healthcheck(
                test=test, interval=int(health["interval"] * 1e9), timeout=int(health["timeout"] * 1e9),
                retries=health["retries"], start_period=int(health["start_period"] * 1e9),
            )  # fmt: skip
        env = dict(config["env"])
        if config["port"]:
            env[config["port_env"]] = str(config["port"])
        resources = Resources(
            cpu_limit=int(config["cpus"] * 1e9) if config["cpus"] else None,
            mem_limit=_memory(config["memory"]),
        )
        spec = {
            "image": image,
            "command": [*config["command"], *config["args"]] or None,
            "env": [f"{k}={v}" for k, v in env.items()],
            "labels": {**config["labels"], **labels},
            "container_labels": {**config["labels"], **labels},
            "mode": docker.types.ServiceMode("replicated", replicas=config["replicas"]),
            "update_config": update,
            "rollback_config": rollback,
            "healthcheck": healthcheck,
            "resources": resources,
            "networks": ["host"] if config["network_mode"] == "host" else None,
            "endpoint_spec": EndpointSpec(mode="dnsrr")
            if config["network_mode"] == "host"
            else None,
        }
        try:
            existing = self.swarm_service(name)
            if existing is None:
                spec = {k: v for k, v in spec.items() if v is not None}
                return self.client.services.create(name=name, **spec), True
            existing.reload()  # a stale version makes the update fail "out of sequence"
            spec.pop("networks")  # networks cannot change on update
            existing.update(**{k: v for k, v in spec.items() if v is not None})
            existing.reload()
            return existing, False
        except docker.errors.DockerException as exc:
            raise EngineUnavailable(f"Swarm refused the service {name}: {_reason(exc)}") from exc

    def swarm_state(self, service) -> tuple[str, list[dict]]:
        """(UpdateStatus state or '', tasks) of a Swarm service."""
        try:
            service.reload()
            tasks = service.tasks()
        except docker.errors.DockerException as exc:
            raise self._wrap(exc) from exc
        return (service.attrs.get("UpdateStatus") or {}).get("State", ""), tasks

    def remove_swarm(self, name: str) -> None:
        service = self.swarm_service(name)
        if service is not None:
            try:
                service.remove()
            except docker.errors.DockerException as exc:
                raise self._wrap(exc) from exc


def _memory(value) -> int | None:
    if not value:
        return None
    from environments.config import parse_memory

    return parse_memory(value)


@contextlib.contextmanager
def session(environment: Environment, timeout: int = 120) -> Iterator[EngineSession]:
    """An EngineSession for a deployment (a longer timeout than probes: pulls are slow)."""
    with open_client(environment, timeout=timeout) as client:
        yield EngineSession(environment, client)


# --- Live logs and events: long-lived streams ----------------------------------------------
# Used by environments/logs.py (the per-process log hub), environments/log_consumers.py
# and environments/views_logs.py. Streams get a DockerClient of their own so they never
# hold the pooled connections of request-scoped clients.


class ContainerMissing(EngineUnavailable):
    """The container does not exist (any more) on the environment's endpoint."""


@contextlib.contextmanager
def open_stream_client(
    environment: Environment, *, max_pool_size: int = 4
) -> Iterator[docker.DockerClient]:
    """A DockerClient for streams (logs, events), closed on exit.

    ``max_pool_size`` is sized for the streams the caller keeps open at once (two for
    a log reader: stdout and stderr) plus one for the odd inspect. docker-py lifts the
    read timeout on a stream's socket once the response has started, so only connecting
    and the first answer are bounded by ``DOCKER_TIMEOUT``.
    """
    with tempfile.TemporaryDirectory(prefix="berth-tls-") as tmp:
        tls = _tls_config(environment, tmp) if environment.uses_tls else None
        known = _api_versions.get(environment.endpoint_url)
        try:
            client = docker.DockerClient(
                base_url=environment.endpoint_url,
                version=known or "auto",
                timeout=settings.DOCKER_TIMEOUT,
                tls=tls,
                max_pool_size=max_pool_size,
            )
            _api_versions[environment.endpoint_url] = client.api.api_version
        except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
            raise EngineUnavailable(_unavailable(environment, exc)) from exc
        try:
            yield client
        except docker.errors.NotFound as exc:
            raise ContainerMissing(_reason(exc)) from exc
        except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
            raise EngineUnavailable(_unavailable(environment, exc)) from exc
        finally:
            client.close()


def owns_container(environment: Environment, labels: dict | None) -> bool:
    """Whether a container with ``labels`` belongs to ``environment`` (see
    ``only_labelled_containers``: several environments may share one engine)."""
    if not environment.only_labelled_containers:
        return True
    return (labels or {}).get(LABEL_ENVIRONMENT) == environment.slug


def inspect_container(environment: Environment, reference: str) -> dict | None:
    """``{id, name, tty, state, labels}`` of the container ``reference`` (id, id prefix or
    name) on ``environment``'s endpoint, whoever owns it; None when there is none."""
    with open_client(environment) as client:
        try:
            attrs = client.api.inspect_container(reference)
        except docker.errors.NotFound:
            return None
    config = attrs.get("Config") or {}
    return {
        "id": attrs["Id"],
        "name": (attrs.get("Name") or "").lstrip("/"),
        "tty": bool(config.get("Tty")),
        "state": (attrs.get("State") or {}).get("Status", ""),
        "labels": config.get("Labels") or {},
    }


def find_container(environment: Environment, reference: str) -> dict | None:
    """The container ``reference`` if ``environment`` owns it (see :func:`inspect_container`)."""
    found = inspect_container(environment, reference)
    if found is None or not owns_container(environment, found["labels"]):
        return None
    return found


def log_stream(
    client: docker.DockerClient,
    container_id: str,
    stream: str,
    *,
    follow: bool,
    tail: int | str = "all",
    since: float | None = None,
    until: float | None = None,
):
    """One output stream (``stdout`` or ``stderr``) of a container's log, with timestamps.

    Docker has no demultiplexed log endpoint, so the two streams are two requests. With
    ``follow`` the result is a ``CancellableStream``: ``close()`` shuts its socket, which
    also unblocks a thread reading it.
    """
    return client.api.logs(
        container_id,
        stdout=stream == "stdout",
        stderr=stream == "stderr",
        stream=True,
        follow=follow,
        timestamps=True,
        tail=tail,
        since=since,
        until=until,
    )


def container_exit(client: docker.DockerClient, container_id: str) -> tuple[str, int] | None:
    """(status, exit code) of a container, None when it has been removed."""
    try:
        state = client.api.inspect_container(container_id).get("State") or {}
    except docker.errors.NotFound:
        return None
    return state.get("Status", ""), int(state.get("ExitCode") or 0)


def event_stream(client: docker.DockerClient, filters: dict):
    """Decoded Docker events matching ``filters`` from now on (a ``CancellableStream``)."""
    return client.api.events(decode=True, filters=filters)
