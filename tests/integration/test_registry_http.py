"""The registry client's transport (registry/http.py) against small HTTP servers on
loopback: headers, bodies (whole and chunked), token queries, redirects and failures."""

from __future__ import annotations

import base64
import contextlib
import http.server
import socket
import threading
import time

import pytest

from registry.http import Timeout, TLSFailure, Transport, TransportError

pytestmark = pytest.mark.integration


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Answers every request from ``server.answer(handler)`` and records what came."""

    protocol_version = "HTTP/1.1"

    def _serve(self):
        body = b""
        if self.headers.get("Transfer-Encoding") == "chunked":
            while size := int(self.rfile.readline().strip(), 16):
                body += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
        elif length := int(self.headers.get("Content-Length") or 0):
            body = self.rfile.read(length)
        self.server.seen.append((self.command, self.path, dict(self.headers), body))
        status, headers, payload = self.server.answer(self)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_HEAD = do_PUT = _serve

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def _server(answer, host="127.0.0.1"):
    server = http.server.ThreadingHTTPServer((host, 0), _Recorder)
    server.daemon_threads = True
    server.answer, server.seen = answer, []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_transport_sends_headers_and_bodies_and_reads_answers():
    with _server(lambda h: (201, {"Docker-Content-Digest": "sha256:" + "a" * 64}, b"{}")) as (
        server,
        url,
    ):
        transport = Transport()
        transport.headers["User-Agent"] = "berth-test"
        answer = transport.request(
            "PUT",
            f"{url}/v2/a/manifests/1",
            timeout=5,
            headers={"Content-Type": "x/y"},
            data=b"body",
        )
        assert (answer.status_code, answer.json()) == (201, {})
        assert answer.headers["docker-content-digest"] == "sha256:" + "a" * 64  # any case
        streamed = transport.request(
            "PUT", f"{url}/up", timeout=5, data=iter([b"some", b"bytes"])
        )  # a stream goes chunked
        assert streamed.status_code == 201
        token = transport.get(f"{url}/token", params={"service": "s", "scope": ["a", "b"]},
                              auth=("robot", "pw"), timeout=5)  # fmt: skip
        assert token.status_code == 201
    (put, put_headers, put_body), (up, _, up_body), (get, get_headers, _) = [
        (f"{command} {path}", headers, body) for command, path, headers, body in server.seen
    ]
    assert (put, put_body) == ("PUT /v2/a/manifests/1", b"body")
    assert put_headers["User-Agent"] == "berth-test" and put_headers["Content-Type"] == "x/y"
    assert (up, up_body) == ("PUT /up", b"somebytes")
    assert get == "GET /token?service=s&scope=a&scope=b"
    assert get_headers["Authorization"] == "Basic " + base64.b64encode(b"robot:pw").decode()


def test_a_redirect_to_another_host_drops_the_credentials():
    """127.0.0.1 and localhost are two hosts to an HTTP client."""
    with _server(lambda h: (200, {}, b"blob"), host="localhost") as (storage, storage_url):
        moved = lambda h: (307, {"Location": f"{storage_url}/blob"}, b"")  # noqa: E731
        with _server(moved) as (_, url):
            answer = Transport().request(
                "GET", f"{url}/v2/a/blobs/x", timeout=5, headers={"Authorization": "Bearer t"},
                stream=True,
            )  # fmt: skip
            assert b"".join(answer.iter_content(2)) == b"blob"
            answer.close()
    ((_, path, headers, _),) = storage.seen
    assert path == "/blob" and "Authorization" not in headers


def test_transport_failures_are_named_by_kind():
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(TransportError) as refused:
        Transport().request("GET", f"http://127.0.0.1:{port}/v2/", timeout=5)
    assert not isinstance(refused.value, Timeout | TLSFailure)

    def slow(handler):
        time.sleep(1)
        return 200, {}, b""

    with _server(slow) as (_, url), pytest.raises(Timeout):
        Transport().request("GET", f"{url}/v2/", timeout=0.2)
    with _server(lambda h: (200, {}, b"")) as (_, url), pytest.raises(TLSFailure):
        Transport().request("GET", url.replace("http:", "https:") + "/v2/", timeout=5)
