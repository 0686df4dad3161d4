"""Long-lived streams: logs and events, on Docker clients of their own."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from typing import TYPE_CHECKING

import docker
import requests
from django.conf import settings
from docker.types.daemon import CancellableStream

if TYPE_CHECKING:
    from environments.models import Environment

from environments.engine.core import (
    LABEL_ENVIRONMENT,
    EngineUnavailable,
    _api_versions,
    _reason,
    _tls_config,
    _unavailable,
    open_client,
)
from environments.engine.session import session

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
    """``{id, name, tty, state, labels, image, health, exit_code, started_at}`` of the
    container ``reference`` (id, id prefix or name) on ``environment``'s endpoint, whoever
    owns it; None when there is none. ``health`` is "" without a health check."""
    with open_client(environment) as client:
        try:
            attrs = client.api.inspect_container(reference)
        except docker.errors.NotFound:
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
    }


def find_container(environment: Environment, reference: str) -> dict | None:
    """The container ``reference`` if ``environment`` owns it (see :func:`inspect_container`)."""
    found = inspect_container(environment, reference)
    if found is None or not owns_container(environment, found["labels"]):
        return None
    return found


def _payloads(response: requests.Response, framed: bool) -> Iterator[bytes]:
    """The body of a log response: frame payloads (one log message each) when ``framed``,
    else the raw bytes as they come.

    Read 64 KiB at a time with ``read1`` (whatever has arrived, so a follow stream is not
    held back) and the 8-byte frame headers parsed here: docker-py reads every frame with
    two buffered reads, which is about half the cost of a chatty container's log.
    """
    raw = response.raw
    buffer, start = b"", 0
    while block := raw.read1(65536):
        if not framed:
            yield block
            continue
        buffer = buffer[start:] + block if start < len(buffer) else block
        start, end = 0, len(buffer)
        while end - start >= 8:
            size = int.from_bytes(buffer[start + 4 : start + 8], "big")
            if end - start - 8 < size:
                break
            yield buffer[start + 8 : start + 8 + size]
            start += 8 + size


def _log_request(
    client: docker.DockerClient, path: str, params: dict, framed: bool
) -> CancellableStream:
    api = client.api
    response = api._get(api._url(path, params.pop("id")), params=params, stream=True)
    api._raise_for_status(response)
    api._disable_socket_timeout(api._get_raw_response_socket(response))  # quiet follows
    return CancellableStream(_payloads(response, framed), response)


def log_stream(
    client: docker.DockerClient,
    container_id: str,
    stream: str,
    *,
    follow: bool,
    tail: int | str = "all",
    since: float | None = None,
    until: float | None = None,
    framed: bool = True,
) -> CancellableStream:
    """One output stream (``stdout`` or ``stderr``) of a container's log, with timestamps,
    as the payloads of its frames (``framed``: the container has no TTY) or raw chunks.

    Docker has no demultiplexed log endpoint, so the two streams are two requests. The
    result is a ``CancellableStream``: ``close()`` shuts its socket, which also unblocks a
    thread reading it. Raises ``docker.errors.NotFound`` for an unknown container.
    """
    params = {
        "id": container_id,
        "stdout": int(stream == "stdout"),
        "stderr": int(stream == "stderr"),
        "follow": int(follow),
        "timestamps": 1,
        "tail": tail,
    }
    if since:
        params["since"] = f"{since:.9f}"
    if until:
        params["until"] = f"{until:.9f}"
    return _log_request(client, "/containers/{0}/logs", params, framed)


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


def stats_stream(client: docker.DockerClient, container_id: str) -> CancellableStream:
    """Decoded resource samples of a running container, about one a second.

    docker-py's ``stats(stream=True)`` is a bare generator whose socket no other thread
    can close; this is the same request wrapped in a ``CancellableStream``, so the last
    viewer leaving can unblock the reader. After the container stops Docker goes on
    sending zeroed samples (``read`` is ``0001-01-01T00:00:00Z``) until it is removed.
    """
    api = client.api
    url = api._url("/containers/{0}/stats", container_id)
    response = api._get(url, stream=True, params={"stream": True})
    api._raise_for_status(response)
    return CancellableStream(api._stream_helper(response, decode=True), response)


def service_log_stream(
    client: docker.DockerClient,
    service: str,
    stream: str,
    *,
    follow: bool,
    tail: int | str = "all",
    since: float | None = None,
) -> CancellableStream:
    """One output stream of a Swarm service's merged task logs, with timestamps and the
    ``details`` that name each line's task (``com.docker.swarm.task.id=...``).

    docker-py's ``service_logs`` returns a bare generator whose socket no other thread can
    close (a reader would block forever on a quiet service); this is the same request
    wrapped in a ``CancellableStream``. Services never have a TTY here, so the body is
    multiplexed.
    """
    params = {
        "id": service,
        "details": True,
        "follow": follow,
        "stdout": stream == "stdout",
        "stderr": stream == "stderr",
        "timestamps": True,
        "tail": tail,
    }
    if since:
        params["since"] = int(since)  # whole seconds: lines are then compared exactly
    return _log_request(client, "/services/{0}/logs", params, framed=True)


def swarm_tasks(client: docker.DockerClient, service: str) -> list[dict]:
    """The tasks of a Swarm service (any state); EngineUnavailable when Docker refuses."""
    try:
        return client.api.tasks(filters={"service": service})
    except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
        raise EngineUnavailable(_reason(exc)) from exc


def swarm_service_exists(client: docker.DockerClient, service: str) -> bool:
    try:
        client.api.inspect_service(service)
    except docker.errors.NotFound:
        return False
    return True


def service_containers(environment: Environment, service: str) -> list[dict]:
    """The containers of a Berth service in ``environment`` (all states), each as
    :func:`inspect_container` describes it, by slot then name."""
    with session(environment) as engine_session:
        replicas = sorted(engine_session.replicas(service), key=lambda r: (r.slot, r.name))
    found = (inspect_container(environment, replica.id) for replica in replicas)
    return [container for container in found if container is not None]  # None: removed since


def find_swarm_service(environment: Environment, name: str) -> str | None:
    """``name`` when a Swarm service of that name runs on the endpoint, else None (also
    when the engine is no Swarm manager)."""
    with open_client(environment) as client:
        try:
            return name if swarm_service_exists(client, name) else None
        except docker.errors.APIError as exc:
            if exc.status_code == 503:  # not a swarm manager
                return None
            raise
