"""A bounded HTTP client for traffic tests and the benchmark: GETs one loopback URL at
a steady rate in a thread until told to stop (or a request cap), and records each
answer (the body's first line, or the error)."""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = ["Load", "Result"]


@dataclass
class Result:
    at: float
    ok: bool
    body: str
    latency: float


@dataclass
class Load:
    """``with Load(url, rate=200) as load: ...`` then ``load.results``."""

    url: str
    rate: float = 200.0
    max_requests: int = 20000
    timeout: float = 5.0
    host: str | None = None
    results: list[Result] = field(default_factory=list)

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        assert parts.hostname == "127.0.0.1", "loopback only"
        self._port, self._path = parts.port or 80, parts.path or "/"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def get(self) -> Result:
        start = time.monotonic()
        connection = http.client.HTTPConnection("127.0.0.1", self._port, timeout=self.timeout)
        try:
            connection.request("GET", self._path, headers={"Host": self.host} if self.host else {})
            response = connection.getresponse()
            body = response.read().decode(errors="replace").strip()
            ok = response.status == 200
            if not ok:
                body = f"HTTP {response.status}: {body[:80]}"
        except OSError as exc:
            ok, body = False, f"{exc.__class__.__name__}: {exc}"
        finally:
            connection.close()
        return Result(start, ok, body, time.monotonic() - start)

    def _run(self) -> None:
        gap = 1.0 / self.rate
        next_at = time.monotonic()
        while not self._stop.is_set() and len(self.results) < self.max_requests:
            self.results.append(self.get())
            next_at += gap
            pause = next_at - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            else:
                next_at = time.monotonic()  # behind: do not burst to catch up

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=self.timeout + 5)

    @property
    def failures(self) -> list[Result]:
        return [r for r in self.results if not r.ok]

    def versions(self) -> list[str]:
        """The sequence of distinct answers, in order (v1, v2 = one switch)."""
        seen: list[str] = []
        for result in self.results:
            if result.ok and (not seen or seen[-1] != result.body):
                seen.append(result.body)
        return seen
