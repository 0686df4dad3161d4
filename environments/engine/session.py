"""The deployment session: one Docker connection for a whole deployment, with every
container and Swarm call the strategies need."""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import docker

from environments.engine.client import (
    ContainerMissing,
    EngineUnavailable,
    _reason,
    _unavailable,
    open_client,
)
from environments.engine.endpoint import Endpoint
from environments.engine.labels import (
    LABEL_COLOUR,
    LABEL_DEPLOYMENT,
    LABEL_ENVIRONMENT,
    LABEL_PORT,
    LABEL_SERVICE,
    LABEL_SLOT,
    NotOwned,
    owns_swarm_service,
    volume_name,
)
from environments.engine.probe import health_of
from environments.engine.streams import event_stream
from environments.engine.units import parse_memory

__all__ = ["CONTAINER_VERBS", "ContainerWatch", "EngineSession", "NotOwned", "Replica", "session"]

CONTAINER_VERBS = ("restart", "stop", "start")
REMOVAL_WAIT = 30  # seconds a removal waits for one another caller already started


_RUNTIME_PREFIXES = (
    "unable to start container process: ",
    "runc create failed: ",
    "OCI runtime create failed: ",
)
_NOT_FOUND = re.compile(
    r'exec: "(?P<command>[^"]+)": '
    r"(executable file not found in \$PATH|stat [^:]+: no such file or directory)"
)


def start_problem(exc: BaseException) -> str:
    """Why the engine would not start a container, for a person: the runtime's layers
    of prefixes ("OCI runtime create failed: runc create failed: ...") taken off, and a
    command missing from the image said so."""
    text = str(getattr(exc, "explanation", "") or exc)
    missing = _NOT_FOUND.search(text)
    if missing:
        return (
            f"the command {missing['command']!r} is not in the image: check the config's "
            "command (the image's PATH does not have it)"
        )
    for prefix in _RUNTIME_PREFIXES:
        if prefix in text:
            text = text.rsplit(prefix, 1)[1]
            break
    return text.removesuffix(": unknown").strip() or _reason(exc)


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

    def __init__(self, environment: Endpoint, client: docker.DockerClient):
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

    def has_image(self, reference: str) -> bool:
        """Whether the engine already holds ``repo@digest`` (a digest names exactly one
        content, so there is nothing newer to pull)."""
        try:
            self.client.api.inspect_image(reference)
        except docker.errors.ImageNotFound:
            return False
        except docker.errors.DockerException as exc:
            raise self._wrap(exc) from exc
        return True

    # Containers
    @contextlib.contextmanager
    def watch(self, container_ids: list[str]) -> Iterator[ContainerWatch]:
        """Wake-ups when any of ``container_ids`` changes health or stops, from the
        engine's event stream (see :class:`ContainerWatch`)."""
        watch = ContainerWatch(self.client, container_ids)
        try:
            yield watch
        finally:
            watch.close()

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
                    health=health_of(row.get("Status", "")),
                    slot=int(labels.get(LABEL_SLOT, 0)),
                    port=int(labels[LABEL_PORT]) if labels.get(LABEL_PORT) else None,
                    colour=labels.get(LABEL_COLOUR, "blue"),
                    deployment=int(labels.get(LABEL_DEPLOYMENT, 0)),
                )  # fmt: skip
            )
        return sorted(found, key=lambda r: (r.deployment, r.slot))

    def _mounts(self, config: dict) -> list[tuple[str, str, str]]:
        """(source, target, mode) of each of the config's volumes: a host path as it is, a
        named volume as this environment's own (:func:`volume_name`)."""
        mounts = []
        for spec in config["volumes"]:
            source, target, *mode = spec.split(":")
            if not source.startswith("/"):
                source = volume_name(self.environment, source)
            mounts.append((source, target, mode[0] if mode else "rw"))
        return mounts

    def run(self, *, name: str, image: str, config: dict, labels: dict, port: int | None) -> str:
        """Create and start one replica; returns its id."""
        env = dict(config["env"])
        if port:
            env[config["port_env"]] = str(port)
        healthcheck = _healthcheck(config, port)
        volumes = {
            source: {"bind": target, "mode": mode} for source, target, mode in self._mounts(config)
        }
        command = [*config["command"], *config["args"]] or None
        try:
            container = self.client.containers.run(
                image, command=command, name=name, detach=True, environment=env,
                labels={**config["labels"], **labels}, network_mode=config["network_mode"],
                restart_policy={"Name": config["restart_policy"]} if config["restart_policy"] != "no" else None,
                healthcheck=healthcheck, volumes=volumes or None,
                mem_limit=_memory(config["memory"]),
                nano_cpus=int(config["cpus"] * 1e9) if config["cpus"] else None,
            )  # fmt: skip
        except docker.errors.DockerException as exc:
            # run() is create then start: a start refused (a command not in the image, a
            # port taken) leaves a Created container behind. It never runs: remove it.
            with contextlib.suppress(docker.errors.DockerException):
                self.client.api.remove_container(name, force=True)
            raise EngineUnavailable(f"{name} did not start: {start_problem(exc)}") from exc
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

    def _act(self, call, container_id: str, *, missing_ok: bool = False, **kwargs) -> None:
        try:
            call(container_id, **kwargs)
        except docker.errors.NotFound:
            if not missing_ok:
                raise ContainerMissing(f"Container {container_id[:12]} no longer exists.") from None
        except docker.errors.DockerException as exc:
            raise self._wrap(exc) from exc

    def stop(self, container_id: str, timeout: int = 10) -> None:
        self._act(self.client.api.stop, container_id, missing_ok=True, timeout=timeout)

    def start(self, container_id: str) -> None:
        self._act(self.client.api.start, container_id)

    def restart(self, container_id: str, timeout: int = 10) -> None:
        self._act(self.client.api.restart, container_id, timeout=timeout)

    def operate(self, container_id: str, verb: str, *, stop_timeout: int = 10) -> dict:
        """Restart, stop or start a container; ``{"id", "name", "state"}`` afterwards.
        The one way Berth operates a container (pages, API, service actions)."""
        if verb not in CONTAINER_VERBS:
            raise ValueError(f"Unknown container operation {verb!r}.")
        if verb == "start":
            self._act(self.client.api.start, container_id)
        else:
            self._act(getattr(self.client.api, verb), container_id, timeout=stop_timeout)
        try:
            attrs = self.client.api.inspect_container(container_id)
        except docker.errors.NotFound:
            raise ContainerMissing(f"Container {container_id[:12]} no longer exists.") from None
        except docker.errors.DockerException as exc:
            raise self._wrap(exc) from exc
        return {
            "id": attrs["Id"],
            "name": (attrs.get("Name") or "").lstrip("/"),
            "state": (attrs.get("State") or {}).get("Status", ""),
        }

    def remove(self, container_id: str) -> None:
        """Remove a container (force: stopped first). One that is gone already counts as
        removed; one another caller is removing (a retirement, say) counts once it is
        gone, which this waits for, up to ``REMOVAL_WAIT`` seconds."""
        try:
            self.client.api.remove_container(container_id, force=True)
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as exc:
            if exc.status_code != 409 or "already in progress" not in str(exc):
                raise self._wrap(exc) from exc
            deadline = time.monotonic() + REMOVAL_WAIT
            while time.monotonic() < deadline:
                try:
                    self.client.api.inspect_container(container_id)
                except docker.errors.NotFound:
                    return
                except docker.errors.DockerException as again:
                    raise self._wrap(again) from again
                time.sleep(0.1)
            raise self._wrap(exc) from exc
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

    def owned_swarm_service(self, name: str, service: str):
        """The Swarm service ``name`` if its labels say it is ``service`` of this
        environment; None when there is none; :class:`NotOwned` when another owns it."""
        found = self.swarm_service(name)
        if found is None:
            return None
        labels = (found.attrs.get("Spec") or {}).get("Labels") or {}
        if not owns_swarm_service(self.environment, service, labels):
            raise NotOwned(
                f"A Swarm service named {name} exists on {self.environment.name}'s engine but "
                f"its labels do not say it is {service} of {self.environment.name}: Berth "
                "leaves it alone. Rename or remove it, or deploy under another service name."
            )
        return found

    def scale_swarm(self, service, replicas: int) -> None:
        """Set a Swarm service's replica count (0 stops every task)."""
        try:
            service.reload()
            if not service.scale(replicas):
                raise EngineUnavailable(f"Swarm refused to scale {service.name}.")
        except docker.errors.DockerException as exc:
            raise self._wrap(exc) from exc

    def restart_swarm(self, service) -> None:
        """Replace every task of a Swarm service (``docker service update --force``)."""
        try:
            service.reload()
            service.force_update()
        except docker.errors.DockerException as exc:
            raise self._wrap(exc) from exc

    def deploy_swarm(
        self, *, name: str, image: str, config: dict, labels: dict, ports: dict | None = None
    ):
        """Create or update the Swarm service; returns (service, created).

        ``ports`` (``{task slot: port}``) gives each task a port of its own in the port
        variable, so that replicas on host networking, and old and new tasks of a
        start-first update, never collide: a Swarm template choosing by ``.Task.Slot``
        (Swarm templates have no arithmetic), expanded by Swarm for each task. The HTTP
        health check then asks the task's own port, read from that variable."""
        from docker.types import EndpointSpec, Healthcheck, Resources, RollbackConfig, UpdateConfig

        strategy = config["strategy"]
        update = UpdateConfig(
            parallelism=strategy.get("parallelism", 1), delay=int(strategy.get("delay", 0) * 1e9),
            order=strategy.get("order", "start-first"), failure_action=strategy.get("failure_action", "rollback"),
            monitor=int(strategy.get("monitor", 5) * 1e9),
        )  # fmt: skip
        rollback = RollbackConfig(parallelism=0, order=strategy.get("order", "start-first"))
        port = f"${config['port_env']}" if ports else config["port"]
        health = _healthcheck(config, port)
        healthcheck = Healthcheck(**health) if health else None
        env = dict(config["env"])
        if ports:
            env[config["port_env"]] = slot_template(ports)
        elif config["port"]:
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
            "mounts": [":".join(mount) for mount in self._mounts(config)] or None,
            "stop_grace_period": int(config["stop_grace_period"] * 1e9),
            "networks": ["host"] if config["network_mode"] == "host" else None,
            "endpoint_spec": EndpointSpec(mode="dnsrr")
            if config["network_mode"] == "host"
            else None,
        }
        existing = self.owned_swarm_service(name, labels[LABEL_SERVICE])
        try:
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


class ContainerWatch:
    """Follows the engine's events for some containers (a health check's result, a
    container that dies or is removed) from a thread, so that a caller waiting for
    health looks again the moment something changed instead of on its next poll.

    Events only wake the caller: the container's inspected state stays the truth, and
    should the stream fail, :meth:`wait` still returns after its timeout (polling)."""

    EVENTS = ("health_status", "die", "destroy", "oom")

    def __init__(self, client: docker.DockerClient, container_ids: list[str]):
        self._changed = threading.Event()
        self._ids = set(container_ids)
        self._stream = None
        try:
            # Since a moment ago: a result that came before the stream opened still wakes.
            self._stream = event_stream(
                client,
                {"type": "container", "container": sorted(self._ids), "event": list(self.EVENTS)},
                since=int(time.time()) - 2,
            )
        except docker.errors.DockerException:
            return  # no stream: wait() polls
        threading.Thread(target=self._follow, name="berth-container-watch", daemon=True).start()

    def _follow(self) -> None:
        with contextlib.suppress(Exception):  # closed, or the engine went away: wait() polls
            for event in self._stream:
                if event.get("id") in self._ids:
                    self._changed.set()

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a change; True when one came."""
        changed = self._changed.wait(timeout)
        self._changed.clear()
        return changed

    def close(self) -> None:
        if self._stream is not None:
            with contextlib.suppress(Exception):
                self._stream.close()


def slot_template(values: dict) -> str:
    """A Swarm template giving each task ``values[its slot]`` (``0`` for another slot)."""
    branches = [
        f'{"if" if i == 0 else "else if"} eq .Task.Slot "{slot}"}}}}{value}{{{{'
        for i, (slot, value) in enumerate(sorted(values.items()))
    ]
    return "{{" + "".join(branches) + "else}}0{{end}}"


def _healthcheck(config: dict, port: int | str | None) -> dict | None:
    """Docker HEALTHCHECK settings from the config (nanoseconds), the same for a
    container and a Swarm service."""
    health = config.get("health_check")
    if not health:
        return None
    if health.get("command"):
        test = ["CMD", *health["command"]]
    else:
        url = f"http://127.0.0.1:{health.get('port') or port}{health['http_path']}"
        test = ["CMD-SHELL", f"wget -q -O /dev/null {url} || exit 1"]
    return {
        "test": test,
        "interval": int(health["interval"] * 1e9),
        "timeout": int(health["timeout"] * 1e9),
        "retries": health["retries"],
        "start_period": int(health["start_period"] * 1e9),
    }


def _memory(value) -> int | None:
    if not value:
        return None
    return parse_memory(value)


@contextlib.contextmanager
def session(environment: Endpoint, timeout: int = 120) -> Iterator[EngineSession]:
    """An EngineSession for a deployment (a longer timeout than probes: pulls are slow)."""
    with open_client(environment, timeout=timeout) as client:
        yield EngineSession(environment, client)
