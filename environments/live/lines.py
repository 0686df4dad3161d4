"""Lines of ``docker logs --timestamps``: timestamps and the splitting of raw chunks.

Docker's timestamps are fixed-width UTC RFC3339Nano (``2024-05-01T12:00:00.000000001Z``),
so normalized timestamps compare as strings.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta

__all__ = [
    "FIRST_TS",
    "LAST_TS",
    "MAX_LINE",
    "LineSplitter",
    "docker_since",
    "iter_line_lists",
    "iter_lines",
    "normalize_ts",
    "ts_seconds",
]

MAX_LINE = 64 * 1024  # longer lines arrive in pieces

_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d\d):?(\d\d))",
    re.ASCII,
)
_UNIX = re.compile(r"(\d{1,12})(?:\.(\d{1,9}))?", re.ASCII)
_EPOCH = datetime(1970, 1, 1)
# Docker's range, as far as a log can reach: the epoch to the last instant of year 9999
# (fixed width, so normalized times still compare as strings).
FIRST_TS = "1970-01-01T00:00:00.000000000Z"
LAST_TS = "9999-12-31T23:59:59.999999999Z"
_LAST_SECOND = 253402300799  # 9999-12-31T23:59:59Z


def normalize_ts(value: str) -> str:
    """``value`` (RFC3339 of any precision and offset, or unix seconds with up to nine
    decimals) as Docker's fixed-width UTC RFC3339Nano; ValueError saying why when it is
    neither. Times before 1970 are clamped to :data:`FIRST_TS` (no log is older), after
    year 9999 to :data:`LAST_TS`."""
    value = value.strip()
    if match := _UNIX.fullmatch(value):
        seconds, fraction = int(match[1]), match[2]
    elif match := _RFC3339.fullmatch(value):
        year, month, day, hour, minute, second, fraction, utc, sign, zh, zm = match.groups()
        try:
            local = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
        except ValueError as exc:
            raise ValueError(f"{value[:40]!r} is not a valid time: {exc}.") from None
        offset = 0
        if not utc:
            if int(zh) > 23 or int(zm) > 59:
                raise ValueError(f"{value[:40]!r} is not a valid time: bad UTC offset.")
            offset = (int(zh) * 3600 + int(zm) * 60) * (-1 if sign == "-" else 1)
        seconds = (local - _EPOCH) // timedelta(seconds=1) - offset
    else:
        raise ValueError(f"{value[:40]!r} is neither an RFC 3339 time nor unix seconds.")
    if seconds < 0:
        return FIRST_TS
    if seconds > _LAST_SECOND:
        return LAST_TS
    nanos = int((fraction or "").ljust(9, "0"))
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z"


def ts_seconds(ts: str) -> float:
    """Unix seconds of a normalized timestamp. A float is only good to ~0.2 µs, so
    Docker is asked with a margin and lines are then compared exactly, as strings."""
    try:
        return calendar.timegm(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")) + int(ts[20:29]) / 1e9
    except ValueError:
        raise ValueError(f"{ts[:40]!r} is not a normalized time.") from None


def docker_since(ts: str | None) -> float | None:
    """``since`` for Docker: a microsecond before ``ts``, and at least a millisecond,
    since docker-py sends the float's repr and Docker cannot parse ``1e-06`` (it
    answered a since of 0 with a 500)."""
    return max(ts_seconds(ts) - 1e-6, 0.001) if ts else None


class LineSplitter:
    """Bytes of one stream of ``docker logs --timestamps`` into (ts, text) lines.

    Frames of a multiplexed stream are whole log messages; Docker cuts lines longer than
    16 KiB into partial messages (no trailing newline) with a timestamp each, joined back
    here. A TTY stream comes in arbitrary chunks. Either way: split on newlines, keep the
    partial tail (up to ``MAX_LINE``).
    """

    def __init__(self, framed: bool = True):
        self.framed = framed
        self.partial = b""
        self.last_ts = ""

    def feed(self, chunk: bytes) -> list[tuple[str, str]]:
        if self.partial:
            if self.framed:  # a continuation carries a timestamp of its own: drop it
                head, sep, rest = chunk.partition(b" ")
                if sep and len(head) == 30 and head.endswith(b"Z"):
                    chunk = rest
            chunk, self.partial = self.partial + chunk, b""
        parts = chunk.split(b"\n")
        tail = parts.pop()
        if len(tail) > MAX_LINE:
            parts.append(tail)
        else:
            self.partial = tail
        return [self._parse(raw) for raw in parts]

    def flush(self) -> list[tuple[str, str]]:
        rest, self.partial = self.partial, b""
        return [self._parse(rest)] if rest else []

    def _parse(self, raw: bytes) -> tuple[str, str]:
        head, sep, rest = raw.partition(b" ")
        if sep and len(head) == 30 and head.endswith(b"Z"):
            ts = head.decode("ascii", "replace")
        else:
            try:
                ts = normalize_ts(head.decode("ascii", "replace")) if sep else ""
            except ValueError:
                ts = ""
            if not ts:  # no timestamp: keep the whole line, at the stream's last time
                ts, rest = self.last_ts, raw
        self.last_ts = ts
        text = rest.decode("utf-8", "replace")
        return ts, text[:-1] if text.endswith("\r") else text


def iter_line_lists(stream, framed: bool) -> Iterator[list[tuple[str, str]]]:
    """The lines of a stream of chunks, a list per chunk that completed any (the lines
    that arrived together)."""
    splitter = LineSplitter(framed)
    for chunk in stream:
        if lines := splitter.feed(chunk):
            yield lines
    if rest := splitter.flush():
        yield rest


def iter_lines(stream, framed: bool) -> Iterator[tuple[str, str]]:
    for lines in iter_line_lists(stream, framed):
        yield from lines
