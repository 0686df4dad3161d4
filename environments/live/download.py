"""A container's log as a download: both streams between two times, merged in time
order, read in 64 KiB blocks so memory stays flat however long the log is.

``since`` and ``until`` are RFC 3339 or unix seconds, both ends inclusive (the range a
``skipped`` message of the log websocket names); ``tail`` keeps the last N lines of that
range, so ``?until=<ts>&tail=1000`` is the 1000 lines up to ``ts`` ("load older").
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import re
from collections import deque

from django.http import StreamingHttpResponse

from environments import engine
from environments.live.io import run_io
from environments.live.lines import docker_since, iter_lines, normalize_ts, ts_seconds
from environments.live.logs import MAX_TAIL, STREAMS
from environments.live.sources import ContainerSource
from portal.core.numbers import parse_whole

__all__ = ["LogDownload", "log_response", "parse_download_range"]

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
            client = stack.enter_context(engine.open_client(self.environment, max_pool_size=2))
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


def parse_download_range(query) -> tuple[str, str, int | None]:
    """``(since, until, tail)`` from a download's query parameters; ValueError with a
    message for the user when one is invalid. No ``tail`` is the whole range."""
    since = normalize_ts(query["since"]) if query.get("since") else ""
    until = normalize_ts(query["until"]) if query.get("until") else ""
    tail = query.get("tail", "")
    if tail == "":
        return since, until, None
    lines = parse_whole(tail)
    if lines is None or lines > MAX_TAIL:
        raise ValueError(f"tail is a number of lines, from 0 to {MAX_TAIL}: not {tail[:40]!r}.")
    return since, until, lines


async def _blocks(download: LogDownload):
    try:
        while (block := await run_io(download.read)) is not None:
            yield block
    finally:
        download.close()


def _filename(container: dict) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", container["name"] or container["id"][:12])
    return f"{name}.log"


def log_response(download: LogDownload) -> StreamingHttpResponse:
    """An opened download as a streamed ``text/plain`` attachment; closes it at the end."""
    response = StreamingHttpResponse(_blocks(download), content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{_filename(download.container)}"'
    response["Cache-Control"] = "no-store"
    return response
