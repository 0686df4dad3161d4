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
    """The body of a log response: frame payloads (log messages) when ``framed``, else
    the raw bytes as they come.

    Read 64 KiB at a time with ``read1`` (whatever has arrived, so a follow stream is not
    held back) and the 8-byte frame headers parsed here: docker-py reads every frame with
    two buffered reads, which is about half the cost of a chatty container's log. Whole
    messages (ending in a newline) that arrived together go out joined, one chunk for
    many lines, so the line splitter cuts them at once. A partial message (Docker cuts
    lines longer than 16 KiB) ends its chunk: the next chunk then starts with its
    continuation, whose own timestamp the splitter drops.
    """
    buffer, start = b"", 0
    for block in _body(response):
        if not framed:
            yield block
            continue
        buffer = buffer[start:] + block if start < len(buffer) else block
        start, end = 0, len(buffer)
        messages: list[bytes] = []
        while end - start >= 8:
            size = int.from_bytes(buffer[start + 4 : start + 8], "big")
            if end - start - 8 < size:
                break
            message = buffer[start + 8 : start + 8 + size]
            start += 8 + size
            messages.append(message)
            if not message.endswith(b"\n"):
                yield b"".join(messages)
                messages = []
        if messages:
            yield b"".join(messages)


MAX_CHUNK = 8 * 1024 * 1024  # a longer HTTP chunk is a broken stream, not a log message


def _body(response: requests.Response) -> Iterator[bytes]:
    """The body of a streamed response as it arrives, many HTTP chunks at a time.

    Docker sends each log message of a follow as an HTTP chunk of its own, and
    http.client hands over at most one chunk per read, through several calls: for a
    chatty container that was most of the reader's time. A chunked body is therefore
    decoded here, from the connection's buffered reader (nothing of the body has been
    read when this starts), which is closed when the body ends, breaks or is left, as
    http.client does; any other body (not chunked, or compressed) is read as it comes.
    """
    message = getattr(response.raw, "_fp", None)
    reader = getattr(message, "fp", None)
    plain = not response.headers.get("Content-Encoding")  # compressed: urllib3 decodes it
    if (
        not plain
        or reader is None
        or not getattr(message, "chunked", False)
        or message.chunk_left is not None
    ):
        while block := response.raw.read1(65536):
            yield block
        return
    try:
        yield from _dechunk(reader)
    finally:  # as http.client does at the end of a body, or when it breaks
        message.close()


def _dechunk(reader) -> Iterator[bytes]:
    buffer, start = b"", 0
    while True:
        chunks = []
        while (line_end := buffer.find(b"\r\n", start)) >= 0:
            size = int(buffer[start:line_end].partition(b";")[0], 16)
            if size == 0:  # the last chunk: the body is complete
                if chunks:
                    yield b"".join(chunks)
                return
            if size > MAX_CHUNK:
                raise ValueError(f"an HTTP chunk of {size} bytes in a log stream")
            data_end = line_end + 2 + size
            if len(buffer) < data_end + 2:
                break
            chunks.append(buffer[line_end + 2 : data_end])
            start = data_end + 2
        if chunks:
            yield b"".join(chunks)
        block = reader.read1(65536)
        if not block:
            return
        buffer, start = buffer[start:] + block, 0


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
