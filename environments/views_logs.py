"""Container log download: the whole log (or a time range) as text, in constant memory.

``GET /environments/<slug>/containers/<id>/logs/download/?since=&until=&tail=`` (all
optional; ``since`` and ``until`` RFC 3339 or unix seconds, both ends inclusive: the range
a ``skipped`` message of the log websocket names; ``tail`` the last N lines of that range,
so ``?until=<ts>&tail=1000`` is the 1000 lines up to ``ts``, "load older" in the browser).
One line per log line: ``<RFC3339Nano> <stdout|stderr> <text>``, the two streams merged
in time order.

Under ASGI a StreamingHttpResponse must be given an *async* iterator, or Django reads
the whole body into a list first; the blocking Docker reads run in the log I/O pool,
64 KiB at a time, so memory stays flat however long the log is.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import re
from collections import deque

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse

from environments import access, engine
from environments.log_consumers import run_io
from environments.log_lines import docker_since, iter_lines, normalize_ts, ts_seconds
from environments.log_sources import ContainerSource
from environments.logs import MAX_TAIL, STREAMS
from environments.roles import LOGS

__all__ = ["LogDownload", "container_logs_download", "log_response", "parse_download_range"]

log = logging.getLogger(__name__)


class LogDownload:
    """Both streams of a container's log between ``since`` and ``until``, merged by time.

    With ``tail``, only the last ``tail`` lines of the range. Docker's own ``tail`` counts
    from the end of the whole log before it applies ``until``, so it cannot give the lines
    before a time: the range is read through once, keeping the last ``tail`` lines (memory
    bounded by ``tail``), on the first :meth:`read`.

    :meth:`open` and :meth:`read` block (run them in a worker thread); :meth:`close` does
    not, so it may be called while a read is in progress to end it.
    """

    BLOCK = 64 * 1024

    def __init__(
        self,
        environment,
        container: dict,
        since: str = "",
        until: str = "",
        *,
        tail: int | None = None,
    ):
        self.environment, self.container = environment, container
        self.since, self.until, self.tail = since, until, tail
        self._streams: list = []
        self._stack = contextlib.ExitStack()
        self._merged = iter(())

    def open(self) -> None:
        """Start both requests; raises EngineUnavailable / ContainerMissing."""
        with contextlib.ExitStack() as stack:
            client = stack.enter_context(
                engine.open_stream_client(self.environment, max_pool_size=2)
            )
            # Docker stops at the first entry of the log file after ``until``, and the file
            # holds both streams in the order they were written, not quite in time order:
            # ask for a second more and cut at ``until`` exactly in _lines().
            until = ts_seconds(self.until) + 1.0 if self.until else None
            lines = []
            source = ContainerSource(self.container)
            for name in STREAMS:
                stream = source.open(
                    client,
                    name,
                    follow=False,
                    tail="all",
                    since=docker_since(self.since),
                    until=until,
                )
                self._streams.append(stream)
                lines.append(self._lines(name, stream))
            self._merged = heapq.merge(*lines)
            self._stack = stack.pop_all()

    def _lines(self, name: str, stream):
        for ts, text in iter_lines(stream, framed=not self.container.get("tty")):
            if self.until and ts > self.until:
                return
            if ts >= self.since:
                yield ts, name, text

    def read(self) -> bytes | None:
        """The next block of text, None at the end."""
        parts, size = [], 0
        try:
            if self.tail is not None:  # keep the last lines only, once, before the first block
                self._merged, self.tail = iter(deque(self._merged, maxlen=self.tail)), None
            for ts, name, text in self._merged:
                line = f"{ts} {name} {text}\n".encode()
                parts.append(line)
                size += len(line)
                if size >= self.BLOCK:
                    break
        except Exception:  # noqa: BLE001 - closed under our feet, or the engine went away
            log.debug("log download of %s ended early", self.container["id"], exc_info=True)
            self._merged = iter(())
        return b"".join(parts) or None

    def close(self) -> None:
        for stream in self._streams:
            with contextlib.suppress(Exception):
                stream.close()
        self._streams = []
        with contextlib.suppress(Exception):
            self._stack.close()


async def _blocks(download: LogDownload):
    try:
        while (block := await run_io(download.read)) is not None:
            yield block
    finally:
        download.close()


def parse_download_range(query) -> tuple[str, str, int | None]:
    """``(since, until, tail)`` from a download's query parameters; ValueError with a
    message for the user when one is invalid. No ``tail`` is the whole range."""
    since = normalize_ts(query["since"]) if query.get("since") else ""
    until = normalize_ts(query["until"]) if query.get("until") else ""
    tail = query.get("tail", "")
    if tail == "":
        return since, until, None
    if not tail.isdigit() or int(tail) > MAX_TAIL:
        raise ValueError(f"tail is a number of lines, from 0 to {MAX_TAIL}: not {tail!r}.")
    return since, until, int(tail)


def _filename(container: dict) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", container["name"] or container["id"][:12])
    return f"{name}.log"


def log_response(download: LogDownload) -> StreamingHttpResponse:
    """An opened download as a streamed ``text/plain`` attachment; closes it at the end."""
    response = StreamingHttpResponse(_blocks(download), content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{_filename(download.container)}"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
async def container_logs_download(
    request: HttpRequest, slug: str, container_id: str
) -> HttpResponse:
    user = await request.auser()
    environment = await sync_to_async(access.get_environment)(user, LOGS, slug=slug)
    try:
        since, until, tail = parse_download_range(request.GET)
    except ValueError as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
    try:
        container = await run_io(engine.find_container, environment, container_id)
        if container is None:
            raise Http404("No such container in this environment.")
        download = LogDownload(environment, container, since, until, tail=tail)
        await run_io(download.open)
    except engine.ContainerMissing:
        raise Http404("No such container in this environment.") from None
    except engine.EngineUnavailable as exc:
        return HttpResponse(str(exc), status=503, content_type="text/plain; charset=utf-8")
    return log_response(download)
