"""Lines of ``docker logs --timestamps``: timestamps and the splitting of raw chunks.

Docker's timestamps are fixed-width UTC RFC3339Nano (``2024-05-01T12:00:00.000000001Z``),
so normalized timestamps compare as strings.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Iterator
from datetime import datetime

__all__ = ["MAX_LINE", "LineSplitter", "docker_since", "iter_lines", "normalize_ts", "ts_seconds"]

MAX_LINE = 64 * 1024  # longer lines arrive in pieces

_FIXED = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z")
_RFC3339 = re.compile(
    r"(\d{4}-\d\d-\d\d)[Tt ](\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?([Zz]|[+-]\d\d:?\d\d)"
)
_UNIX = re.compile(r"(\d{1,12})(?:\.(\d{1,9}))?")


def normalize_ts(value: str) -> str:
    """``value`` (RFC3339 of any precision and offset, or unix seconds with up to nine
    decimals) as Docker's fixed-width UTC RFC3339Nano; ValueError when it is neither."""
    value = value.strip()
    if _FIXED.fullmatch(value):
        return value
    if match := _UNIX.fullmatch(value):
        seconds, fraction = int(match[1]), match[2]
    elif match := _RFC3339.fullmatch(value):
        date, clock, fraction, zone = match.groups()
        zone = "+00:00" if zone in "Zz" else zone
        seconds = int(datetime.fromisoformat(f"{date}T{clock}{zone}").timestamp())
    else:
        raise ValueError(f"{value!r} is neither an RFC 3339 time nor unix seconds.")
    nanos = int((fraction or "").ljust(9, "0"))
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z"


def ts_seconds(ts: str) -> float:
    """Unix seconds of a normalized timestamp. A float is only good to ~0.2 µs, so
    Docker is asked with a margin and lines are then compared exactly, as strings."""
    return calendar.timegm(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")) + int(ts[20:29]) / 1e9


def docker_since(ts: str | None) -> float | None:
    return max(ts_seconds(ts) - 1e-6, 1e-6) if ts else None


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


def iter_lines(stream, framed: bool) -> Iterator[tuple[str, str]]:
    splitter = LineSplitter(framed)
    for chunk in stream:
        yield from splitter.feed(chunk)
    yield from splitter.flush()
