"""A gate in front of a real registry, on loopback: every request is forwarded to the
registry and answered with what it answers, except those a test chooses to fail (the
gate answers 500 and the registry never sees them) or to hold until released.

Berth is pointed at the gate's URL; the registry behind it is the real one, so what a
test reads back from the registry is what Berth really left there."""

from __future__ import annotations

import http.client
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from tests.stack import free_port


class RegistryGate:
    def __init__(self, registry_url: str):
        self.upstream = urlsplit(registry_url).netloc
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.seen: list[tuple[str, str]] = []  # (method, path) of every request, in order
        self.failing: set[tuple[str, str]] = set()  # (method, path regex) answered 500
        self.holding: dict[tuple[str, str], threading.Event] = {}  # held until set
        self.arrived = threading.Condition()
        self._server: ThreadingHTTPServer | None = None

    def fail(self, method: str, path_pattern: str) -> None:
        self.failing.add((method, path_pattern))

    def hold(self, method: str, path_pattern: str) -> threading.Event:
        """Requests matching are kept waiting until the returned event is set."""
        release = self.holding[(method, path_pattern)] = threading.Event()
        return release

    def wait_for(self, method: str, path_pattern: str, timeout: float = 20) -> bool:
        """Block until a request matching has arrived (now or earlier)."""
        with self.arrived:
            return self.arrived.wait_for(
                lambda: any(m == method and re.search(path_pattern, p) for m, p in self.seen),
                timeout,
            )

    def requests(self, method: str, path_pattern: str) -> list[str]:
        return [p for m, p in self.seen if m == method and re.search(path_pattern, p)]

    def start(self) -> RegistryGate:
        gate = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def _forward(self):
                with gate.arrived:
                    gate.seen.append((self.command, self.path))
                    gate.arrived.notify_all()
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                for (method, pattern), release in list(gate.holding.items()):
                    if method == self.command and re.search(pattern, self.path):
                        release.wait(30)
                if any(m == self.command and re.search(p, self.path) for m, p in gate.failing):
                    self.send_response(500)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                upstream = http.client.HTTPConnection(gate.upstream, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                upstream.request(self.command, self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(name, value)
                self.send_header(
                    "Content-Length",
                    answer.getheader("Content-Length", "0")
                    if self.command == "HEAD"
                    else str(len(data)),
                )
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                upstream.close()

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = _forward  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        for release in self.holding.values():
            release.set()
        if self._server:
            self._server.shutdown()
            self._server.server_close()
