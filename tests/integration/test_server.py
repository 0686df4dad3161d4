"""Berth's server process (``manage.py serve``) at the HTTP level, as an attacker or a
sloppy proxy would talk to it: raw sockets against a real server on loopback.

A request head has a bound (64 KiB: 431 and the connection closed, in bounded memory)
and a time limit (``BERTH_HEAD_TIMEOUT``, 2 s here: 408 for a partial head, a silent
close for a connection that sent nothing);
a body does not count toward it, even when it arrives in the same read as the head; a
head split across reads, down to single bytes, is read whole; ``X-Forwarded-For`` from
an untrusted peer does not become the client's address; the server names no software.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from pathlib import Path

import pytest
import requests

from portal.core.http_protocol import MAX_HEAD_BYTES
from tests.servers import PortalServer

pytestmark = pytest.mark.integration


HEAD_TIMEOUT = 2


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    portal = PortalServer(tmp_path_factory.mktemp("server"))
    portal.env["BERTH_HEAD_TIMEOUT"] = str(HEAD_TIMEOUT)
    portal.start()
    yield portal
    portal.stop()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def exchange(port: int, chunks: list[bytes], pause: float = 0.0) -> bytes:
    """Send ``chunks`` (each its own write), then read the answer until the server
    closes or stops sending for 5 s."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        for chunk in chunks:
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break  # the server answered and closed already
            if pause:
                time.sleep(pause)
        answer = b""
        try:
            while part := sock.recv(65536):
                answer += part
                if b"\r\n\r\n" in answer and b"connection: close" not in answer.lower():
                    head, _, body = answer.partition(b"\r\n\r\n")
                    length = next(
                        (
                            int(line.split(b":", 1)[1])
                            for line in head.split(b"\r\n")
                            if line.lower().startswith(b"content-length:")
                        ),
                        None,
                    )
                    if length is not None and len(body) >= length:
                        break
        except (TimeoutError, ConnectionResetError):
            pass
    return answer


def read_page(sock: socket.socket) -> bytes:
    """One HTML page's answer on a kept-alive connection (read up to its ``</html>``)."""
    answer = b""
    while b"</html>" not in answer.lower():
        part = sock.recv(65536)
        assert part, answer[:300]
        answer += part
    return answer


def status_of(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer.split(b" ", 2)[1])


def test_an_endless_header_is_refused_in_bounded_memory(server):
    pid = server.processes[0].pid
    before = rss_kib(pid)
    head = b"GET /login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Filler: "
    megabyte = b"a" * (1 << 20)
    answer = exchange(server.port, [head] + [megabyte] * 64)  # 64 MB offered
    assert status_of(answer) == 431
    assert f"exceed {MAX_HEAD_BYTES // 1024} KiB".encode() in answer
    assert rss_kib(pid) - before < 32 * 1024, "the server buffered the header"
    # and it still serves everyone else
    assert requests.get(f"{server.url}/login/", timeout=10).status_code == 200


def test_many_headers_past_the_bound_are_refused(server):
    lines = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 100) for i in range(1000))  # ~110 KB
    answer = exchange(server.port, [b"GET /login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n" + lines])
    assert status_of(answer) == 431


def test_a_head_within_the_bound_is_served(server):
    lines = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 100) for i in range(400))  # ~44 KB
    answer = exchange(
        server.port, [b"GET /login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n" + lines + b"\r\n"]
    )
    assert status_of(answer) == 200


def test_a_large_body_in_the_same_read_as_the_head_is_not_counted(server):
    body = json.dumps({"username": "nobody", "password": "x" * 300_000}).encode()
    request = (
        b"POST /api/auth/token/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
    ) + body
    answer = exchange(server.port, [request])
    # Refused by Berth for the credentials (or the size), never by the head's bound.
    assert status_of(answer) in (400, 401, 403, 413), answer[:300]


def test_a_head_split_into_single_bytes_is_read_whole(server):
    request = b"GET /login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/html\r\n\r\n"
    answer = exchange(server.port, [bytes([b]) for b in request], pause=0.001)
    assert status_of(answer) == 200


def test_keep_alive_requests_each_get_their_own_bound(server):
    one = b"GET /login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Filler: " + b"a" * 40_000 + b"\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        for _ in range(3):  # 120 KB of heads in all, each under the bound
            sock.sendall(one)
            assert status_of(read_page(sock)) == 200


def test_forwarded_for_from_an_untrusted_peer_is_not_the_client(server):
    token = server.token("qa", "berth-qa")
    headers = {"Authorization": f"Token {token}", "X-Forwarded-For": "203.0.113.9"}
    created = requests.post(
        f"{server.url}/api/tokens/", json={"name": "forwarded"}, headers=headers, timeout=10
    )
    assert created.status_code == 201, created.text
    events = requests.get(f"{server.url}/api/audit-events/", headers=headers, timeout=10).json()
    events = events["results"] if isinstance(events, dict) else events
    made = [event for event in events if event["action"] == "token.create"]
    assert made and all(event["source_ip"] == "127.0.0.1" for event in made), made


def test_the_server_names_no_software(server):
    response = requests.get(f"{server.url}/login/", timeout=10)
    assert "server" not in {name.lower() for name in response.headers}


def test_a_head_sent_a_byte_now_and_then_times_out_with_408(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        answer = b""
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            while time.monotonic() - started < HEAD_TIMEOUT + 5:
                sock.sendall(b"X")  # never the blank line
                sock.settimeout(0.5)
                with contextlib.suppress(TimeoutError):
                    part = sock.recv(65536)
                    if not part:
                        break
                    answer += part
        took = time.monotonic() - started
    assert status_of(answer) == 408, answer[:300]
    assert HEAD_TIMEOUT - 0.5 < took < HEAD_TIMEOUT + 3


def test_a_connection_that_sends_nothing_is_closed(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=HEAD_TIMEOUT + 5) as sock:
        started = time.monotonic()
        assert sock.recv(65536) == b""  # closed, without an answer
        assert HEAD_TIMEOUT - 0.5 < time.monotonic() - started < HEAD_TIMEOUT + 3


def test_an_idle_kept_alive_connection_serves_its_next_request(server):
    request = b"GET /login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        for _ in range(2):
            sock.sendall(request)
            assert status_of(read_page(sock)) == 200
            time.sleep(HEAD_TIMEOUT * 0.6)  # idle between requests, under uvicorn's 5 s


def test_a_slow_body_after_a_quick_head_is_not_a_head_timeout(server):
    body = json.dumps({"username": "nobody", "password": "x"}).encode()
    head = (
        b"POST /api/auth/token/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    answer = exchange(server.port, [head, body[:5], body[5:]], pause=HEAD_TIMEOUT * 0.75)
    assert status_of(answer) in (400, 401), answer[:300]
