"""Websocket consumers of live container logs and environment events.

Logs: ``/ws/containers/<container_id>/logs/?tail=500&since=<ts>`` (events: see
:class:`EnvironmentEventsConsumer` at the end)

* ``tail`` (default 500; ``all`` or with a ``since``: 10000, the most): the last lines of
  the log, both streams together as ``docker logs --tail`` counts them. ``since`` (RFC 3339
  or unix seconds): resume *after* that time; ``since_stdout`` / ``since_stderr`` give a
  cursor per stream, the exact resume point (the two streams are read separately, so the
  last line of one may be newer than lines of the other still on their way). Merged
  service logs take ``cursor=<replica>/<stream>,<ts>`` (repeated) for the same purpose.
* Server → client: ``{"type": "lines", "seq": n, "lines": [{"ts", "stream", "text"}]}``;
  ``{"type": "live"}`` once, after the backlog: from then on the lines are live;
  ``{"type": "skipped", "count": N, "since": ts, "until": ts}``: this client was too slow
  and lost the oldest queued batches, the range of the lost lines (ends included) being
  what the download endpoint returns for ``?since=&until=``; with ``"count": null`` the
  backlog window of a resume did not reach back to ``since``: lines between ``since`` and
  ``until`` may be missing. ``{"type": "end", "reason": "container exited (code N)"}``
  (or ``container removed``), ``{"type": "error", "message": ...}``; the server closes
  after either.
* Client → server: ``{"type": "ack", "seq": n}`` after handling a ``lines`` message. At
  most ``WINDOW`` of them are unacknowledged: Daphne buffers whatever is sent without
  limit, so acknowledgements are what tells a slow client; a client that stops acking
  stops receiving lines and its hub queue drops the oldest batches (``skipped``).
* Close codes before accept: 4401 not signed in, 4404 no such container in an environment
  the user can view, 4403 visible but no ``view_logs`` there, 4400 bad parameters,
  4503 the engine could not be asked. (Through Daphne any refusal before accept is an
  HTTP 403 answer to the handshake: a browser sees a failed connection, not the code.)
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from environments import access, engine, logs
from environments.container_events import event_hub
from environments.models import Environment
from environments.roles import LOGS, VIEW

__all__ = [
    "ContainerLogConsumer",
    "EnvironmentEventsConsumer",
    "LogSocket",
    "parse_log_options",
    "resolve_container",
    "run_io",
]

log = logging.getLogger(__name__)

WINDOW = 8
_REFERENCE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}")
# Short blocking Docker calls (inspects, backlogs, download blocks) of log viewers, apart
# from the default executor the rest of the process uses.
_EXECUTOR = ThreadPoolExecutor(max_workers=8, thread_name_prefix="berth-logs-io")


async def run_io(function, *args, **kwargs):
    """``function`` in the log I/O pool (never on the loop, never thread-sensitive)."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_EXECUTOR, lambda: function(*args, **kwargs))


def parse_log_options(query_string: bytes | str) -> dict:
    """``tail`` and per-stream cursors from a query string; ValueError when invalid."""
    if isinstance(query_string, bytes):
        query_string = query_string.decode("latin-1")
    parsed = parse_qs(query_string)
    query = {key: values[-1] for key, values in parsed.items()}
    cursors = {}
    if query.get("since"):
        cursors = dict.fromkeys(logs.STREAMS, logs.normalize_ts(query["since"]))
    for stream in logs.STREAMS:
        if query.get(f"since_{stream}"):
            cursors[stream] = logs.normalize_ts(query[f"since_{stream}"])
    for value in parsed.get("cursor", [])[:256]:  # <replica>/<stream>,<ts>: merged logs
        key, _, ts = value.rpartition(",")
        replica, _, stream = key.rpartition("/")
        if stream not in logs.STREAMS or not _REFERENCE.fullmatch(replica):
            raise ValueError("cursor is <replica>/<stdout|stderr>,<time>.")
        cursors[key] = logs.normalize_ts(ts)
    tail = query.get("tail", "")
    if tail in ("", "all"):
        tail = logs.MAX_TAIL if (cursors or tail == "all") else 500
    elif not tail.isdigit():
        raise ValueError("tail is a number of lines.")
    return {"tail": min(int(tail), logs.MAX_TAIL), "cursors": cursors}


@database_sync_to_async
def _visible_with_actions(user) -> list[tuple[Environment, frozenset[str]]]:
    environments = list(Environment.objects.restrict(user, VIEW))
    actions = access.actions_by_environment(user, environments)
    return [(environment, actions[environment.pk]) for environment in environments]


async def resolve_container(user, reference: str, action: str = LOGS):
    """``(close code or 0, environment, container)`` for ``reference`` (id, id prefix or
    name) among the environments ``user`` can view: an environment owns a container by
    label when ``only_labelled_containers``. Not found anywhere visible is 4404, whether
    it exists or not; found only where ``action`` is missing is 4403."""
    if not _REFERENCE.fullmatch(reference or ""):
        return 4404, None, None
    by_endpoint: dict[str, list] = {}
    for environment, actions in await _visible_with_actions(user):
        by_endpoint.setdefault(environment.endpoint_url, []).append((environment, actions))
    found, unreachable = [], False
    for candidates in by_endpoint.values():
        try:
            container = await run_io(engine.inspect_container, candidates[0][0], reference)
        except engine.EngineUnavailable:
            unreachable = True
            continue
        if container is not None:
            found += [
                (environment, actions, container)
                for environment, actions in candidates
                if engine.owns_container(environment, container["labels"])
            ]
    for environment, actions, container in found:
        if action in actions:
            return 0, environment, container
    if found:
        return 4403, None, None
    return (4503 if unreachable else 4404), None, None


class LogSocket(AsyncJsonWebsocketConsumer):
    """Flow control shared by the log sockets: ``lines`` messages numbered and sent with at
    most ``WINDOW`` unacknowledged, and the backlog-then-live pump of one subscription."""

    sent = acked = 0
    credit: asyncio.Event

    async def dispatch(self, message) -> None:
        # Acks arrive for every batch: Channels' dispatch would first hop to the database
        # thread to close old connections, which nothing here uses.
        if message["type"] == "websocket.receive":
            await self.websocket_receive(message)
            return
        await super().dispatch(message)

    async def signed_in_with_options(self):
        """The signed-in user, with ``self.options`` parsed from the query string; None
        once the socket is refused (4401 not signed in, 4400 bad parameters)."""
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return None
        try:
            self.options = parse_log_options(self.scope.get("query_string", b""))
        except ValueError:
            await self.close(code=4400)
            return None
        return user

    def start_flow(self) -> None:
        self.sent = self.acked = 0
        self.credit = asyncio.Event()

    async def receive_json(self, content, **kwargs) -> None:
        if isinstance(content, dict) and content.get("type") == "ack":
            try:
                seq = int(content.get("seq"))
            except (TypeError, ValueError):
                return
            self.acked = max(self.acked, min(seq, self.sent))
            self.credit.set()

    async def _send_lines(self, lines_json: str, replica: str | None = None) -> None:
        while self.sent - self.acked >= WINDOW:
            self.credit.clear()
            await self.credit.wait()
        self.sent += 1
        label = f',"replica":{json.dumps(replica)}' if replica is not None else ""
        await self.send(
            text_data=f'{{"type":"lines","seq":{self.sent}{label},"lines":{lines_json}}}'
        )

    async def _finish(self, message: dict) -> None:
        await self.send_json(message)
        await self.close()

    async def send_backlog(self, environment, source, *, tail: int, cursors: dict) -> dict:
        """Send the backlog of ``source`` after ``cursors``; returns the cursors reached."""
        lines, notices, cursors = await run_io(
            logs.read_backlog, environment, source, tail=tail, cursors=cursors
        )
        for notice in notices:
            await self.send_json(notice)
        for batch in logs.batches(lines):
            await self._send_lines(batch.json())
        return cursors

    async def follow(self, subscription, cursors: dict, replica: str | None = None) -> dict:
        """Forward live batches newer than ``cursors`` until the reader ends; returns the
        final ``end`` or ``error`` message (not sent)."""
        while True:
            skipped, item = await subscription.get()
            if skipped:
                await self.send_json({"type": "skipped", **skipped} | ({"replica": replica} if replica else {}))  # fmt: skip
            if not isinstance(item, logs.Batch):
                return item
            fresh = item.newer_than(cursors)
            for key, ts in item.last.items():
                cursors[key] = max(ts, cursors.get(key, ""))
            if fresh is None:
                await self._send_lines(item.json(), replica)
            elif fresh:
                await self._send_lines(json.dumps(fresh, ensure_ascii=False), replica)


class ContainerLogConsumer(LogSocket):
    """Backlog, then the live lines of one container, from the process's log hub."""

    subscription: logs.Subscription | None = None
    pump: asyncio.Task | None = None

    async def connect(self) -> None:
        user = await self.signed_in_with_options()
        if user is None:
            return
        reference = self.scope["url_route"]["kwargs"]["container_id"]
        code, self.environment, self.container = await resolve_container(user, reference)
        if code:
            await self.close(code=code)
            return
        await self.accept()
        self.start_flow()
        self.subscription = logs.hub.subscribe(self.environment, self.container)
        self.pump = asyncio.create_task(self._pump())

    async def disconnect(self, code: int) -> None:
        if self.pump is not None and not self.pump.done():
            self.pump.cancel()
        if self.subscription is not None:
            logs.hub.unsubscribe(self.subscription)
            self.subscription = None

    async def _pump(self) -> None:
        subscription = self.subscription
        try:
            await subscription.ready
            cursors = await self.send_backlog(self.environment, self.container, **self.options)
            await self.send_json({"type": "live"})
            await self._finish(await self.follow(subscription, cursors))
        except engine.ContainerMissing:
            await self._finish({"type": "end", "reason": "container removed"})
        except engine.EngineUnavailable as exc:
            await self._finish({"type": "error", "message": str(exc)})
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("Log stream of %s failed", self.container["id"])
            await self._finish({"type": "error", "message": "The log stream failed."})


@database_sync_to_async
def _environment_access(user, environment_id: int) -> tuple[int, Environment | None]:
    environment = Environment.objects.restrict(user, VIEW).filter(pk=environment_id).first()
    return (0, environment) if environment is not None else (4404, None)


class EnvironmentEventsConsumer(AsyncJsonWebsocketConsumer):
    """``/ws/environments/<id>/events/``: Docker events (create, start, die, stop,
    health_status, destroy) of the environment's containers, for anyone who can view it.

    ``{"type": "ready"}`` once the engine's event stream is open, then
    ``{"type": "event", "event": {"action", "id", "name", "image", "time", "exit_code"?,
    "health"?}}``; ``{"type": "skipped", "count": N}`` when this client fell behind (reload
    the container list); ``{"type": "error", "message"}`` and close when the stream ends.
    One event reader per environment per process (:mod:`environments.container_events`).
    """

    subscription = None
    pump: asyncio.Task | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        environment_id = self.scope["url_route"]["kwargs"]["environment_id"]
        code, environment = await _environment_access(user, environment_id)
        if code:
            await self.close(code=code)
            return
        await self.accept()
        self.subscription = event_hub.subscribe(environment)
        self.pump = asyncio.create_task(self._pump())

    async def disconnect(self, code: int) -> None:
        if self.pump is not None and not self.pump.done():
            self.pump.cancel()
        if self.subscription is not None:
            event_hub.unsubscribe(self.subscription)
            self.subscription = None

    async def _pump(self) -> None:
        subscription = self.subscription
        await subscription.reader.ready
        if not subscription.reader.finished:
            await self.send_json({"type": "ready"})
        while True:
            skipped, message = await subscription.get()
            if skipped:
                await self.send_json({"type": "skipped", "count": skipped})
            await self.send_json(message)
            if message["type"] != "event":
                await self.close()
                return
