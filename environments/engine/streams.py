"""Long-lived streams: logs, events, stats and Swarm service logs.

The live hubs (:mod:`environments.live`) open them on clients of their own
(``open_client(..., max_pool_size=N)``) so they never hold the pooled connections of
request-scoped clients."""

from __future__ import annotations

from collections.abc import Iterator

import docker
import requests
from docker.types.daemon import CancellableStream

from environments.engine.client import EngineUnavailable, _reason, open_client
from environments.engine.endpoint import Endpoint
from environments.engine.labels import owns_swarm_service


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


def event_stream(client: docker.DockerClient, filters: dict, since: int | None = None):
    """Decoded Docker events matching ``filters`` from now on, or from ``since`` (a Unix
    time), as a ``CancellableStream``."""
    return client.api.events(decode=True, filters=filters, since=since)


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


def find_swarm_service(environment: Endpoint, name: str, service: str) -> str | None:
    """``name`` when the Swarm service of that name on the endpoint is Berth's ``service``
    of ``environment`` (by its labels), else None (also when the engine is no Swarm
    manager, and when someone else's service has the name)."""
    with open_client(environment) as client:
        try:
            labels = (client.api.inspect_service(name).get("Spec") or {}).get("Labels")
        except docker.errors.NotFound:
            return None
        except docker.errors.APIError as exc:
            if exc.status_code == 503:  # not a swarm manager
                return None
            raise
    return name if owns_swarm_service(environment, service, labels) else None
