"""The ``berth`` command line against the tools people would use instead, in one run.

Against the real stack (scripts/stack.sh) and a real server (embedded mode), with
containers of the test image (busybox, ``network_mode: none``, labelled
``berth.environment=dev``).

A. Cold start: ``berth --help`` as a new process, ``--runs`` times; median and p90 wall
   time, beside ``docker --help`` (the docker CLI) as the floor and ``python -c pass`` (the
   interpreter alone, in the same virtual environment). Target: median ≤ 300 ms.
B. ``berth logs -f`` throughput: a container prints ``ready``, waits for a go-signal
   (``docker exec ... sh -c ": > /tmp/go"``), then ``seq 1 200000`` as fast as it can.
   ``docker logs -f`` and ``berth logs -f --tail all`` follow it at the same time; once
   both have shown ``ready`` the signal is given. lines/s is 200000 over the seconds from
   the signal to the reader holding line 200000; every reader must hold exactly
   1..200000 in order (zero lost, zero duplicated). Target: berth ≥ 0.5× docker.
C. Exec keystroke echo: ``berth exec`` of ``cat > /dev/null`` in a terminal (a
   pseudo-terminal here, raw mode), one byte typed at a time and timed until the
   container's terminal echoes it back; beside the same through the docker SDK (``exec_create(tty=True, stdin=True)``
   and ``exec_start(socket=True)``, the socket read directly). Target: berth p50 ≤ 20 ms.

The figures move with whatever else runs on the machine: the load average before and
after is printed with them.

Run: ``.venv/bin/python tests/benchmarks/bench_cli.py`` or ``make bench`` (``--help`` for
smaller sizes). Without DOCKER_HOST in the environment, the stack's stack.env is read.
"""

from __future__ import annotations

import argparse
import os
import pty
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import docker
from _common import percentile, stack_ready

IMAGE = os.environ.get("BERTH_TEST_IMAGE", "berth/testapp:latest")
BERTH = Path(sys.executable).parent / "berth"
COLD_TARGET_MS = 300
THROUGHPUT_TARGET = 0.5
ECHO_TARGET_MS = 20
# What runs in the terminal: it reads and prints nothing, so the only output is the
# terminal's own echo of each key (``cat`` would print each line again after Enter).
SINK = ["sh", "-c", "cat > /dev/null"]


def cold_start(argv: list[str], runs: int) -> tuple[list[float], list[float]]:
    """Wall and CPU (user + system) milliseconds of each run: on a busy machine the CPU
    time tells what the command costs, the wall time what it got."""
    wall, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        wall.append((time.perf_counter() - began) * 1000)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append((after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000)
    return wall, cpu


class Reader:
    """A follower process whose stdout is read in a thread until ``last`` arrives."""

    def __init__(self, name: str, argv: list[str], env: dict, last: bytes):
        self.name = name
        self.data = bytearray()
        self.last = b"\n" + last + b"\n"
        self.ready = threading.Event()
        self.done = threading.Event()
        self.done_at = None
        self.process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, bufsize=0
        )
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        fd = self.process.stdout.fileno()
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            self.data += chunk
            if not self.ready.is_set() and b"ready\n" in self.data:
                self.ready.set()
            if self.data.endswith(self.last):
                self.done_at = time.perf_counter()
                self.done.set()
                break

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def check(self, count: int) -> str:
        lines = self.data.decode().splitlines()
        numbers = [line for line in lines if line != "ready"]
        expected = [str(i) for i in range(1, count + 1)]
        if numbers == expected:
            return ""
        got = {int(n) for n in numbers if n.isdigit()}
        return f"{self.name}: {count - len(got & set(range(1, count + 1)))} lost, {len(numbers) - len(got)} duplicated"


def logs_throughput(client, env: dict, count: int) -> dict:
    container = client.containers.run(
        IMAGE,
        ["sh", "-c", f"echo ready; while [ ! -e /tmp/go ]; do sleep 0.05; done; seq 1 {count}; sleep 3600"],
        name=f"bench-cli-logs-{uuid.uuid4().hex[:8]}",
        labels={"berth.environment": "dev"},
        network_mode="none",
        detach=True,
    )  # fmt: skip
    try:
        last = str(count).encode()
        readers = [
            Reader("docker logs -f", ["docker", "logs", "-f", container.name], env, last),
            Reader("berth logs -f", [str(BERTH), "logs", "-f", "--tail", "all", container.name], env, last),
        ]  # fmt: skip
        for reader in readers:
            if not reader.ready.wait(60):
                raise RuntimeError(f"{reader.name} never showed the first line")
        go = time.perf_counter()
        container.exec_run(["sh", "-c", ": > /tmp/go"])
        for reader in readers:
            reader.done.wait(300)
        results = {}
        for reader in readers:
            reader.stop()
            seconds = (reader.done_at - go) if reader.done_at else None
            results[reader.name] = {
                "lines_per_s": count / seconds if seconds else 0.0,
                "seconds": seconds,
                "problem": reader.check(count) if reader.done_at else f"{reader.name}: never got line {count}",
            }  # fmt: skip
        return results
    finally:
        container.remove(force=True)


def keystrokes(write, read_until, count: int) -> list[float]:
    """Milliseconds from writing one byte to reading its echo, ``count`` times."""
    times = []
    letters = b"abcdefghijklmnopqrstuvwxyz"
    for i in range(count):
        key = letters[i % len(letters) : i % len(letters) + 1]
        began = time.perf_counter()
        write(key)
        if not read_until(key):
            raise RuntimeError(f"no echo of {key!r}")
        times.append((time.perf_counter() - began) * 1000)
        if i % 60 == 59:
            write(b"\r")  # keep the terminal's line short
            read_until(b"\n")
    return times


def echo_berth(container: str, env: dict, count: int) -> list[float]:
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [str(BERTH), "exec", container, "--", *SINK], stdin=slave, stdout=slave, stderr=slave,
        env=env, start_new_session=True,
    )  # fmt: skip
    os.close(slave)
    buffer = bytearray()

    def read_until(token: bytes, timeout: float = 10) -> bool:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            index = buffer.find(token)
            if index >= 0:
                del buffer[: index + len(token)]
                return True
            if select.select([master], [], [], 0.5)[0]:
                buffer.extend(os.read(master, 4096))
        return False

    try:
        time.sleep(1.5)  # the session starts
        os.write(master, b"warm\r")
        if not read_until(b"warm\r\n"):
            raise RuntimeError("berth exec did not start")
        buffer.clear()
        return keystrokes(lambda b: os.write(master, b), read_until, count)
    finally:
        os.write(master, b"\x04")
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        os.close(master)


def echo_docker_sdk(client, container: str, count: int) -> list[float]:
    exec_id = client.api.exec_create(container, SINK, tty=True, stdin=True)["Id"]
    sock = client.api.exec_start(exec_id, socket=True, tty=True)
    raw = sock._sock
    raw.setblocking(True)
    raw.settimeout(10)
    buffer = bytearray()

    def read_until(token: bytes) -> bool:
        while True:
            index = buffer.find(token)
            if index >= 0:
                del buffer[: index + len(token)]
                return True
            chunk = raw.recv(4096)
            if not chunk:
                return False
            buffer.extend(chunk)

    try:
        return keystrokes(raw.sendall, read_until, count)
    finally:
        raw.sendall(b"\x04")
        sock.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="cold starts of each command")
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--keys", type=int, default=300, help="keystrokes per exec client")
    args = parser.parse_args()
    stack_ready()
    from tests.servers import PortalServer

    load_before = os.getloadavg()
    workdir = Path(tempfile.mkdtemp(prefix="bench-cli-"))
    client = docker.DockerClient(base_url=os.environ["DOCKER_HOST"], version="auto")
    server = None
    try:
        print(f"A. cold start, {args.runs} runs each")
        berth_ms = cold_start([str(BERTH), "--help"], args.runs)
        docker_ms = cold_start(["docker", "--help"], args.runs)
        python_ms = cold_start([sys.executable, "-c", "pass"], args.runs)
        for name, (times, cpu) in (
            ("berth --help", berth_ms),
            ("docker --help", docker_ms),
            ("python -c pass", python_ms),  # the interpreter's own start, in the same venv
        ):
            print(
                f"   {name:<16} median {percentile(times, 0.5):6.1f} ms  p90 "
                f"{percentile(times, 0.9):6.1f} ms  (CPU median {percentile(cpu, 0.5):5.1f} ms)"
            )

        print("starting the server (embedded worker): migrate + seed_demo")
        server = PortalServer(workdir, "embedded").start()
        env = {k: v for k, v in os.environ.items() if not k.startswith("BERTH_")} | {
            "BERTH_URL": server.url,
            "BERTH_TOKEN": server.token("admin", "berth-admin"),
        }

        print(f"B. logs -f throughput, {args.lines} lines, both following one container")
        throughput = logs_throughput(client, env, args.lines)
        for name, row in throughput.items():
            seconds = f"{row['seconds']:.2f} s" if row["seconds"] else "-"
            print(
                f"   {name:<16} {row['lines_per_s']:10.0f} lines/s  ({seconds})  {row['problem'] or 'all lines, in order'}"
            )

        print(f"C. exec keystroke echo, {args.keys} keys each")
        shell = client.containers.run(
            IMAGE, ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"],
            name=f"bench-cli-exec-{uuid.uuid4().hex[:8]}", labels={"berth.environment": "dev"},
            network_mode="none", detach=True,
        )  # fmt: skip
        try:
            sdk = echo_docker_sdk(client, shell.name, args.keys)
            berth = echo_berth(shell.name, env, args.keys)
        finally:
            shell.remove(force=True)
        for name, times in (("berth exec", berth), ("docker SDK exec", sdk)):
            print(
                f"   {name:<16} p50 {percentile(times, 0.5):6.2f} ms  p99 {percentile(times, 0.99):6.2f} ms"
            )

        ratio = throughput["berth logs -f"]["lines_per_s"] / max(
            throughput["docker logs -f"]["lines_per_s"], 1
        )
        lost = [row["problem"] for row in throughput.values() if row["problem"]]
        cold, p50 = percentile(berth_ms[0], 0.5), percentile(berth, 0.5)
        print("\ntargets")
        print(
            f"   A berth --help median {cold:.0f} ms <= {COLD_TARGET_MS} ms: {'met' if cold <= COLD_TARGET_MS else 'missed'}"
        )
        print(
            f"   B berth / docker logs -f {ratio:.2f}x >= {THROUGHPUT_TARGET}: {'met' if ratio >= THROUGHPUT_TARGET else 'missed'}"
        )
        print(f"   B zero lost: {'met' if not lost else 'MISSED: ' + ' | '.join(lost)}")
        print(
            f"   C berth exec echo p50 {p50:.2f} ms <= {ECHO_TARGET_MS} ms: {'met' if p50 <= ECHO_TARGET_MS else 'missed'}"
        )
        print(
            f"\ncontext: load average {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after "
            f"({os.cpu_count()} CPUs)"
        )
    except Exception:
        if server is not None:
            print(server.logs(), file=sys.stderr)
        raise
    finally:
        if server is not None:
            server.stop()
        client.close()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
