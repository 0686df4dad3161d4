"""Exec benchmark: the round trip of one keystroke through Berth's exec websocket against
the same through the docker SDK's exec socket (the floor).

Against the real stack: a real server (embedded mode), the seeded ``dev`` user's
API token, a container of the stack's test image labelled for Dev. Both paths run
``cat`` with a TTY in the same container; one byte is written and the time until the
terminal echoes it back is measured, ``--keys`` times each (200 by default), the two
paths interleaved so that load elsewhere on the machine hits both alike.

Target (issue 12): p50 at most 20 ms through Berth. Run:
``.venv/bin/python tests/benchmarks/bench_exec.py`` or ``make bench``.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import docker
from _common import percentile, stack_ready

P50_TARGET_MS = 20.0


def _sdk_session(client, container_id: str):
    exec_id = client.api.exec_create(container_id, ["cat"], stdin=True, tty=True)["Id"]
    raw = client.api.exec_start(exec_id, tty=True, socket=True)
    sock = getattr(raw, "_sock", raw)
    sock.settimeout(10)
    return sock


def _sdk_round_trip(sock: socket.socket, key: bytes) -> float:
    start = time.perf_counter()
    sock.sendall(key)
    seen = b""
    while key not in seen:
        seen += sock.recv(4096)
    return (time.perf_counter() - start) * 1000


def _berth_round_trip(ws, key: bytes) -> float:
    start = time.perf_counter()
    ws.send(key)
    seen = b""
    while key not in seen:
        frame = ws.recv(timeout=10)
        if isinstance(frame, bytes):
            seen += frame[1:]
    return (time.perf_counter() - start) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=200)
    args = parser.parse_args()
    stack_ready()
    from websockets.sync.client import connect

    from tests.servers import PortalServer
    from tests.stack import TEST_IMAGE

    client = docker.DockerClient(base_url=os.environ["DOCKER_HOST"], version="auto")
    container = client.containers.run(
        TEST_IMAGE, ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"],
        name=f"bench-exec-{uuid.uuid4().hex[:6]}", labels={"berth.environment": "dev"},
        network_mode="none", detach=True,
    )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-exec-") as workdir:
        server = PortalServer(Path(workdir), "embedded").start()
        try:
            token = server.token("dev", "berth-dev")
            url = server.url.replace("http://", "ws://")
            url += f"/ws/containers/{container.id}/exec/?cmd=cat&tty=1"
            headers = {"Authorization": f"Token {token}"}
            sdk = _sdk_session(client, container.id)
            berth_ms, sdk_ms = [], []
            with connect(url, additional_headers=headers, open_timeout=10) as ws:
                assert '"started"' in ws.recv(timeout=10)
                for _ in range(5):  # warm both paths
                    _berth_round_trip(ws, b"w")
                    _sdk_round_trip(sdk, b"w")
                for i in range(args.keys):
                    key = bytes([97 + i % 26])
                    berth_ms.append(_berth_round_trip(ws, key))
                    sdk_ms.append(_sdk_round_trip(sdk, key))
            sdk.close()
        finally:
            server.stop()
            container.remove(force=True)
            client.close()
    load = os.getloadavg()
    print(f"exec keystroke echo, {args.keys} keys each, load {load[0]:.2f} {load[1]:.2f}")
    for name, values in (("Berth websocket", berth_ms), ("docker SDK socket", sdk_ms)):
        print(
            f"  {name:18} p50 {statistics.median(values):6.2f} ms"
            f"   p99 {percentile(values, 0.99):6.2f} ms"
        )
    p50 = statistics.median(berth_ms)
    print(f"  target p50 <= {P50_TARGET_MS:.0f} ms: {'met' if p50 <= P50_TARGET_MS else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
