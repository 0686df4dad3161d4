"""Log streaming benchmark: Berth's log websocket against reading Docker directly.

Against the real stack (scripts/stack.sh), in one run, with containers of the test image
(busybox, ``network_mode: none``, labelled ``berth.environment=dev``: the demo
environments only show labelled containers) and a real server (embedded mode).
Every container waits for a go-signal (``docker exec ... sh -c ": > /tmp/go"``: the image
has no touch) that is given once every reader is connected and, for websocket viewers, has
said ``live``, so all of them see the whole run live (``tail=0``: no backlog).

A. Latency at about 100 lines/s (2000 numbered lines, ``sleep 0.009`` between them:
   busybox's fork of ``sleep`` adds the rest), from the line being written to a client
   holding it, p50 and p99, for one Berth websocket viewer and, on the same container at
   the same time, for the docker SDK's own follow stream (``client.api.logs(stream=True,
   follow=True, timestamps=True)`` in a thread): the floor.
   The write time is Docker's timestamp of each line, not the container's clock: busybox
   ``date`` has no sub-second format, and Docker stamps a line when its log copier reads
   it from the container's pipe, microseconds after the ``echo``. Daemon, server and
   clients run on this machine, so the timestamp and the clients' ``time.time()`` are the
   same clock; the direct row shows what that leaves as the floor.
B. Throughput: ``seq 1 200000`` as fast as it can, read (1) by the docker SDK's follow
   stream alone, (2) by one Berth websocket viewer, (3) by 20 viewers, each on a fresh
   container. The viewers run as asyncio tasks in client processes of their own
   (``--procs``), acknowledge every message as soon as it is parsed and check the
   numbers 1..200000: lost and duplicated lines per client must be 0; ``skipped``
   notices are counted. lines/s is 200000 over the seconds from Docker's timestamp of
   line 1 to the client holding line 200000 (a client's own first-to-last receive span
   is shown too). The CPU used over each run by the server, dockerd (found in /proc by its
   socket) and the clients, as shares of one core, tells which of them was the bottleneck;
   the time the server's threads were runnable but waiting for a CPU tells a busy machine.
C. Memory: VmRSS of the server process (``/proc/<pid>/status``) idle, with 100 viewers
   connected to one container before it writes, and after ~10 s of it writing 100
   lines/s to all of them; with its thread count and the unix sockets it holds (its
   connections to the engine), which show the hub's design: one Docker log reader per
   container per process (two follow requests, stdout and stderr, and two threads),
   however many viewers.

Targets: A's Berth p50 at most 5 ms and p99 at most 25 ms at ~100 lines/s (a line goes
at once to a viewer that is idle; lines are batched only while it is busy), printed beside
the docker SDK's own follow (the floor); B's one-viewer lines/s at least 0.7x the direct
read's; zero lines lost or duplicated everywhere.

The figures move with whatever else runs on the machine: the load average before and
after is printed with them.

Run: ``.venv/bin/python tests/benchmarks/bench_logs.py`` or ``make bench``; about two
minutes (``--help`` for smaller sizes). Without DOCKER_HOST in the environment, the
stack's stack.env is read.
"""

from __future__ import annotations

import argparse
import asyncio
import calendar
import contextlib
import json
import multiprocessing
import os
import queue
import secrets
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import docker
from _common import percentile, stack_ready

IMAGE = os.environ.get("BERTH_TEST_IMAGE", "berth/testapp:latest")
WAIT_GO = "while [ ! -e /tmp/go ]; do sleep 0.05; done; "
PACED_SLEEP = 0.009  # + busybox forking sleep ~ 100 lines/s
LATENCY_TARGETS_MS = {"p50": 5.0, "p99": 25.0}
THROUGHPUT_TARGET = 0.7
USER = ("dev", "berth-dev")


# --- helpers --------------------------------------------------------------------------------

_SECONDS: dict[str, int] = {}


def ts_epoch(ts: str) -> float:
    """Docker's fixed-width RFC3339Nano UTC timestamp as unix seconds."""
    head = ts[:19]
    base = _SECONDS.get(head)
    if base is None:
        base = _SECONDS[head] = calendar.timegm(time.strptime(head, "%Y-%m-%dT%H:%M:%S"))
    return base + int(ts[20:29]) / 1e9


def paced_script(count: int) -> str:
    return (
        f"{WAIT_GO}i=0; while [ $i -lt {count} ]; do i=$((i+1)); echo $i; sleep {PACED_SLEEP}; done"
    )


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM (KiB) and Threads of a process."""
    status = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM", "Threads"):
            status[name] = int(value.split()[0])
    return status


def socket_counts(pid: int) -> dict[str, int]:
    """The sockets a process holds: TCP (websockets, HTTP) and unix (the engine's socket,
    and the event loop's own socketpairs)."""
    tcp = set()
    for name in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/net/{name}").read_text().splitlines()[1:]:
                tcp.add(line.split()[9])
    unix = {line.split()[6] for line in Path("/proc/net/unix").read_text().splitlines()[1:]}
    counts = {"tcp": 0, "unix": 0, "other": 0}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inode = target[8:-1]
                counts["tcp" if inode in tcp else "unix" if inode in unix else "other"] += 1
    return counts


def server_snapshot(pid: int) -> dict[str, int]:
    return proc_status(pid) | socket_counts(pid)


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of a process, all its threads (0 if unreadable)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def dockerd_pid() -> int | None:
    """The engine's process on this machine, if DOCKER_HOST is its unix socket."""
    socket_path = os.environ.get("DOCKER_HOST", "").removeprefix("unix://")
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if (
                entry.name.isdigit()
                and (entry / "comm").read_text().strip() == "dockerd"
                and socket_path.encode() in (entry / "cmdline").read_bytes()
            ):
                return int(entry.name)
    return None


def runqueue_seconds(pid: int) -> float:
    """Seconds the threads of a process spent runnable, waiting for a CPU (schedstat):
    what a busy machine takes from it."""
    total = 0
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError, IndexError, ValueError):
                total += int((task / "schedstat").read_text().split()[1])
    return total / 1e9


class CpuMeter:
    """CPU used by the server, dockerd and this process between start() and stop(), and how
    long the server waited for a CPU, as shares of the wall time."""

    def __init__(self, pids: dict[str, int | None], server: int):
        self.pids, self.server = pids, server

    def start(self) -> None:
        self.began = time.monotonic()
        self.marks = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self.waited = runqueue_seconds(self.server)

    def stop(self) -> dict[str, float]:
        wall = time.monotonic() - self.began
        shares = {
            name: (cpu_seconds(pid) - self.marks[name]) / wall for name, pid in self.pids.items()
        }
        return shares | {"server_waiting": (runqueue_seconds(self.server) - self.waited) / wall}


# --- websocket viewers (run in client processes) ----------------------------------------------


def new_result() -> dict:
    return {
        "lines": 0, "messages": 0, "distinct": 0, "duplicates": 0, "other": 0,
        "skipped": [], "end": None, "error": None, "live_at": None,
        "first_recv": None, "last_recv": None, "first_ts": None, "last_ts": None,
        "latencies": [],
    }  # fmt: skip


async def viewer(spec: dict, result: dict, on_live, handshakes: asyncio.Semaphore) -> None:
    """One websocket viewer until ``end``/``error`` or the deadline; fills ``result``."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    expect = spec["expect"]
    seen = bytearray(expect + 1)
    latency = spec.get("latency", False)
    try:
        async with handshakes:
            ws = await connect(
                spec["uri"],
                origin=spec["origin"],
                additional_headers={"Authorization": f"Token {spec['token']}"},
                max_size=None,
                compression=None,
                open_timeout=60,
                ping_interval=None,
                close_timeout=5,
            )
        async with ws:
            while True:
                remaining = spec["deadline"] - time.time()
                if remaining <= 0:
                    result["error"] = "deadline passed"
                    break
                raw = await asyncio.wait_for(ws.recv(), remaining)
                now = time.time()
                message = json.loads(raw)
                kind = message.get("type")
                if kind == "lines":
                    # Prompt ack; after the last batch the server may have sent end and
                    # closed already: the messages before the close are still read.
                    with contextlib.suppress(ConnectionClosed):
                        await ws.send(f'{{"type":"ack","seq":{int(message["seq"])}}}')
                    lines = message["lines"]
                    result["messages"] += 1
                    result["lines"] += len(lines)
                    if not lines:
                        continue
                    if result["first_recv"] is None:
                        result["first_recv"] = now
                        result["first_ts"] = ts_epoch(lines[0]["ts"])
                    result["last_recv"] = now
                    result["last_ts"] = ts_epoch(lines[-1]["ts"])
                    for line in lines:
                        try:
                            number = int(line["text"])
                        except ValueError:
                            result["other"] += 1
                            continue
                        if not 0 < number <= expect:
                            result["other"] += 1
                        elif seen[number]:
                            result["duplicates"] += 1
                        else:
                            seen[number] = 1
                        if latency:
                            result["latencies"].append(now - ts_epoch(line["ts"]))
                elif kind == "live":
                    result["live_at"] = now
                    on_live()
                elif kind == "skipped":
                    result["skipped"].append(message)
                elif kind in ("end", "error"):
                    result["end"] = message
                    break
    except Exception as exc:  # noqa: BLE001 - reported with the figures
        result["error"] = f"{type(exc).__name__}: {exc}"
    result["distinct"] = seen.count(1)


async def _clients_main(spec: dict, count: int, index: int, out) -> None:
    results = [new_result() for _ in range(count)]
    handshakes = asyncio.Semaphore(10)  # no more than 10 handshakes at once
    marks: dict[str, float] = {}

    def live() -> None:
        out.put(("live", index))

    async def watch_cpu() -> None:  # CPU time from the first line anywhere to the end
        while not any(r["first_recv"] for r in results):
            await asyncio.sleep(0.01)
        marks["cpu0"], marks["wall0"] = time.process_time(), time.monotonic()

    watcher = asyncio.create_task(watch_cpu())
    await asyncio.gather(*(viewer(spec, r, live, handshakes) for r in results))
    watcher.cancel()
    if "cpu0" in marks:
        cpu = time.process_time() - marks["cpu0"]
        wall = time.monotonic() - marks["wall0"]
    else:
        cpu = wall = 0.0
    out.put(("done", index, results, cpu, wall))


def clients_process(spec: dict, count: int, index: int, out) -> None:
    """Entry of a client process: ``count`` viewers as asyncio tasks."""
    asyncio.run(_clients_main(spec, count, index, out))


class Fleet:
    """``viewers`` websocket viewers spread over ``procs`` client processes."""

    def __init__(self, spec: dict, viewers: int, procs: int):
        context = multiprocessing.get_context("spawn")
        self.out = context.Queue()
        self.viewers = viewers
        procs = max(1, min(procs, viewers))
        shares = [viewers // procs + (i < viewers % procs) for i in range(procs)]
        self.processes = [
            context.Process(target=clients_process, args=(spec, n, i, self.out), daemon=True)
            for i, n in enumerate(shares)
        ]
        self.done: list[tuple] = []
        for process in self.processes:
            process.start()

    def _next(self, deadline: float, what: str) -> tuple:
        """The next message of a client process; raises past ``deadline`` or if one died."""
        while True:
            try:
                return self.out.get(timeout=0.5)
            except queue.Empty:
                pass
            dead = [p.exitcode for p in self.processes if p.exitcode]
            if dead:
                raise RuntimeError(f"a client process died (exit code {dead[0]}) {what}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out {what}")

    def wait_live(self, timeout: float) -> None:
        live, deadline = 0, time.monotonic() + timeout
        while live < self.viewers:
            message = self._next(deadline, f"with {live} of {self.viewers} viewers live")
            if message[0] == "live":
                live += 1
            else:
                self.done.append(message)
                errors = {r["error"] or str(r["end"]) for r in message[2] if not r["live_at"]}
                raise RuntimeError(f"viewers ended before going live: {errors}")

    def results(self, timeout: float) -> tuple[list[dict], list[tuple[float, float]]]:
        deadline = time.monotonic() + timeout
        while len(self.done) < len(self.processes):
            message = self._next(deadline, "waiting for the viewers' results")
            if message[0] == "done":
                self.done.append(message)
        for process in self.processes:
            process.join(timeout=10)
        results = [r for message in self.done for r in message[2]]
        return results, [(message[3], message[4]) for message in self.done]

    def stop(self) -> None:
        for process in self.processes:
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)


# --- the direct floor -----------------------------------------------------------------------


def direct_follow(client: docker.DockerClient, container_id: str, expect: int, result: dict,
                  opened: threading.Event, deadline: float, latency: bool) -> None:  # fmt: skip
    """The docker SDK's follow stream of both streams, line by line, in a thread."""
    seen = bytearray(expect + 1)
    stream = None
    try:
        stream = client.api.logs(
            container_id, stream=True, follow=True, timestamps=True, stdout=True, stderr=True
        )
        opened.set()
        for frame in stream:
            now = time.time()
            for raw in frame.splitlines():
                ts, _, text = raw.partition(b" ")
                result["lines"] += 1
                if result["first_recv"] is None:
                    result["first_recv"] = now
                    result["first_ts"] = ts_epoch(ts.decode())
                try:
                    number = int(text)
                except ValueError:
                    result["other"] += 1
                    continue
                if not 0 < number <= expect:
                    result["other"] += 1
                elif seen[number]:
                    result["duplicates"] += 1
                else:
                    seen[number] = 1
                if latency:
                    result["latencies"].append(now - ts_epoch(ts.decode()))
                if number == expect:
                    result["last_ts"] = ts_epoch(ts.decode())
            result["last_recv"] = now
            if now > deadline:
                result["error"] = "deadline passed"
                break
        result["end"] = {"type": "end"}
    except Exception as exc:  # noqa: BLE001 - reported with the figures
        result["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        opened.set()
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()
        result["distinct"] = seen.count(1)


# --- the scenarios ----------------------------------------------------------------------------


class Bench:
    def __init__(self, client: docker.DockerClient, server, token: str, salt: str, procs: int):
        self.client, self.server, self.token, self.salt = client, server, token, salt
        self.procs = procs
        self.pid = server.processes[0].pid
        self.meter = CpuMeter(
            {"server": self.pid, "dockerd": dockerd_pid(), "bench": os.getpid()}, self.pid
        )
        self.origin = f"http://127.0.0.1:{server.port}"
        self.counter = 0

    def container(self, script: str, tag: str):
        self.counter += 1
        return self.client.containers.run(
            IMAGE,
            command=["sh", "-c", script],
            name=f"bench-logs-{self.salt}-{self.counter}-{tag}",
            detach=True,
            network_mode="none",
            labels={"berth.environment": "dev", "berth.bench": self.salt},
        )

    def spec(self, container_id: str, expect: int, seconds: float, latency=False) -> dict:
        return {
            "uri": f"ws://127.0.0.1:{self.server.port}/ws/containers/{container_id}/logs/?tail=0",
            "origin": self.origin, "token": self.token, "expect": expect,
            "deadline": time.time() + seconds, "latency": latency,
        }  # fmt: skip

    @staticmethod
    def go(container) -> float:
        exit_code, output = container.exec_run(["sh", "-c", ": > /tmp/go"])
        if exit_code:
            raise RuntimeError(f"the go-signal failed: {output!r}")
        return time.time()

    def start_direct(self, container, expect: int, seconds: float, latency=False):
        result = new_result()
        opened = threading.Event()
        thread = threading.Thread(
            target=direct_follow,
            args=(self.client, container.id, expect, result, opened, time.time() + seconds, latency),
            daemon=True,
        )  # fmt: skip
        thread.start()
        if not opened.wait(30):
            raise RuntimeError("the direct follow stream did not open")
        return thread, result

    def latency(self, count: int) -> dict:
        container = self.container(paced_script(count), "latency")
        seconds = count / 50 + 60
        fleet = Fleet(self.spec(container.id, count, seconds, latency=True), 1, 1)
        try:
            fleet.wait_live(60)
            thread, direct = self.start_direct(container, count, seconds, latency=True)
            self.go(container)
            thread.join(seconds)
            (berth,), _ = fleet.results(seconds)
        finally:
            fleet.stop()
        return {"berth": berth, "direct": direct}

    def throughput(self, count: int, viewers: int) -> dict:
        """Direct follow alone when ``viewers`` is 0, else that many Berth viewers."""
        container = self.container(f"{WAIT_GO}seq 1 {count}", f"seq-{viewers}")
        seconds = 120
        if not viewers:
            thread, direct = self.start_direct(container, count, seconds)
            self.meter.start()
            self.go(container)
            thread.join(seconds)
            return {"results": [direct], "cpu": [], "meter": self.meter.stop()}
        fleet = Fleet(self.spec(container.id, count, seconds), viewers, self.procs)
        try:
            fleet.wait_live(90)
            self.meter.start()
            self.go(container)
            results, cpu = fleet.results(seconds)
            meter = self.meter.stop()
        finally:
            fleet.stop()
        return {"results": results, "cpu": cpu, "meter": meter, "peak": proc_status(self.pid)}

    def memory(self, viewers: int, stream_seconds: float, snapshots: dict) -> dict:
        """Adds to ``snapshots``: idle, viewers connected, after streaming, viewers gone."""
        snapshots["idle (after one viewer came and went)"] = server_snapshot(self.pid)
        count = int(stream_seconds * 100) + 6000  # a bound: killed after the snapshot
        container = self.container(paced_script(count), "memory")
        fleet = Fleet(self.spec(container.id, count, 180), viewers, self.procs)
        try:
            fleet.wait_live(120)
            time.sleep(1)
            snapshots[f"{viewers} viewers live, no lines yet"] = server_snapshot(self.pid)
            self.go(container)
            time.sleep(stream_seconds)
            snapshots[f"{viewers} viewers, {stream_seconds:.0f} s of ~100 lines/s"] = (
                server_snapshot(self.pid)
            )
            container.kill()  # the viewers get "end" and leave
            results, _ = fleet.results(60)
        finally:
            fleet.stop()
        time.sleep(2)
        snapshots["viewers gone"] = server_snapshot(self.pid)
        return {"snapshots": snapshots, "results": results}


# --- report ---------------------------------------------------------------------------------


def check(results: list[dict], expect: int | None) -> dict:
    """Lost/duplicated lines and skipped notices over clients (lost only when ``expect``)."""
    lost = [expect - r["distinct"] for r in results] if expect else [0]
    return {
        "lost": sum(lost),
        "clients_losing": sum(1 for n in lost if n),
        "duplicates": sum(r["duplicates"] for r in results),
        "other": sum(r["other"] for r in results),
        "skipped": sum(len(r["skipped"]) for r in results),
        "skipped_lines": sum(s["count"] or 0 for r in results for s in r["skipped"]),
        "errors": sorted({r["error"] for r in results if r["error"]}),
    }


def loss_text(tally: dict) -> str:
    text = f"lost {tally['lost']}, dup {tally['duplicates']}, skipped msgs {tally['skipped']}"
    if tally["skipped_lines"]:
        text += f" ({tally['skipped_lines']} lines)"
    if tally["other"]:
        text += f", other {tally['other']}"
    if tally["errors"]:
        text += f", errors: {'; '.join(tally['errors'])}"
    return text


def report_latency(figures: dict, count: int) -> dict[str, dict[str, float]]:
    print(f"\nA. latency, write -> client holds the line ({count} lines)")
    direct = figures["direct"]
    rate = (direct["lines"] - 1) / max(direct["last_recv"] - direct["first_recv"], 1e-9)
    print(f"   measured rate {rate:.0f} lines/s (direct receive span)")
    print(f"   {'reader':<28} {'lines':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}  check")
    quantiles = {}
    for name, key in (
        ("Berth websocket, 1 viewer", "berth"),
        ("docker SDK follow (floor)", "direct"),
    ):
        result = figures[key]
        values = [v * 1000 for v in result["latencies"]] or [float("nan")]
        quantiles[key] = {"p50": percentile(values, 0.5), "p99": percentile(values, 0.99)}
        print(
            f"   {name:<28} {result['lines']:>6} {quantiles[key]['p50']:>8.1f} "
            f"{quantiles[key]['p99']:>8.1f} {max(values):>8.1f}  "
            f"{loss_text(check([result], count))}"
        )
    return quantiles


def span_figures(results: list[dict], count: int) -> dict:
    finished = [r for r in results if r["last_recv"] and r["first_ts"]]
    if not finished:
        return {}
    first_ts = min(r["first_ts"] for r in finished)
    per_client = [count / (r["last_recv"] - r["first_ts"]) for r in finished]
    return {
        "e2e": max(r["last_recv"] for r in finished) - first_ts,
        "recv_span": max(r["last_recv"] - r["first_recv"] for r in finished),
        "write_span": max((r["last_ts"] or r["first_ts"]) - r["first_ts"] for r in finished),
        "rate_min": min(per_client),
        "rate_median": sorted(per_client)[len(per_client) // 2],
        "aggregate": sum(r["distinct"] for r in finished)
        / (max(r["last_recv"] for r in finished) - first_ts),
    }


def report_throughput(runs: dict, count: int) -> tuple[float, list[str]]:
    many = len(runs["berthN"]["results"])
    names = {
        "direct": "docker SDK follow (floor)", "berth1": "Berth, 1 viewer",
        "berthN": f"Berth, {many} viewers",
    }  # fmt: skip
    print(f"\nB. throughput, seq 1 {count} as fast as it can, read live")
    print(
        f"   {'reader':<28} {'lines/s':>9} {'e2e s':>7} {'recv s':>7} {'write s':>7} "
        f"{'all l/s':>9}  check"
    )
    rates, problems = {}, []
    for key, name in names.items():
        run = runs[key]
        figures = span_figures(run["results"], count)
        tally = check(run["results"], count)
        if tally["lost"] or tally["duplicates"] or tally["skipped"] or tally["errors"]:
            problems.append(f"{name}: {loss_text(tally)}")
        if not figures:
            print(f"   {name:<28} no lines received  {loss_text(tally)}")
            continue
        rates[key] = figures["rate_min"]
        print(
            f"   {name:<28} {figures['rate_min']:>9.0f} {figures['e2e']:>7.2f} "
            f"{figures['recv_span']:>7.2f} {figures['write_span']:>7.2f} "
            f"{figures['aggregate']:>9.0f}  {loss_text(tally)}"
        )
        if len(run["results"]) > 1:
            print(f"   {'':<28} (slowest viewer; median {figures['rate_median']:.0f} lines/s)")
    print(
        "   lines/s: count / seconds from Docker's timestamp of the first line to the viewer"
        " holding the last (e2e);\n   recv: first to last line received; write: Docker's"
        " first to last timestamp (how fast the log driver took\n   the lines in); all l/s:"
        " distinct lines held by all viewers / e2e. lost/dup: numbers 1..N missing or seen"
        "\n   twice, summed over viewers; skipped: Berth's notices of dropped batches."
    )
    print(
        f"\n   CPU over the run (share of one core): {'server':>7} {'dockerd':>8} {'clients':>8}"
        f"  server waiting for a CPU"
    )
    for key, name in names.items():
        meter = runs[key]["meter"]
        clients = runs[key]["cpu"]
        if clients:
            used = " ".join(f"{c / w:.0%}" for c, w in clients if w)
        else:  # the direct reader runs in this process
            used = f"{meter['bench']:.0%}"
        server = f"{meter['server']:.0%}" if key != "direct" else "-"
        waiting = f"{meter['server_waiting']:.0%}" if key != "direct" else "-"
        print(f"   {name:<36} {server:>7} {meter['dockerd']:>8.0%} {used:>8}  {waiting:>6}")
    ratio = rates.get("berth1", 0) / rates["direct"] if rates.get("direct") else float("nan")
    if "berthN" in rates and "direct" in rates:
        print(
            f"   Berth 1 viewer / direct {ratio:.2f}x; Berth {many} viewers (slowest) / "
            f"direct {rates['berthN'] / rates['direct']:.2f}x"
        )
    return ratio, problems


def report_memory(figures: dict) -> None:
    print("\nC. memory of the server process")
    print(f"   {'moment':<40} {'VmRSS MiB':>9} {'threads':>8} {'tcp':>5} {'unix':>5}")
    for moment, snap in figures["snapshots"].items():
        print(
            f"   {moment:<40} {snap['VmRSS'] / 1024:>9.1f} {snap['Threads']:>8} "
            f"{snap['tcp']:>5} {snap['unix']:>5}"
        )
    snaps = list(figures["snapshots"].values())
    idle, streaming = snaps[1], snaps[3]
    viewers = len(figures["results"])
    grown = streaming["VmRSS"] - idle["VmRSS"]
    print(
        f"   idle -> {viewers} viewers streaming: +{grown / 1024:.1f} MiB "
        f"({grown / viewers:.0f} KiB per viewer), unix sockets "
        f"{streaming['unix'] - idle['unix']:+d}, threads {streaming['Threads'] - idle['Threads']:+d}"
        f"\n   (one shared reader would be +2 unix sockets, its stdout and stderr follow requests,"
        f" and +2 threads; one per viewer, +{2 * viewers} of each)"
    )
    lines = sorted(r["lines"] for r in figures["results"])
    print(
        f"   lines per viewer min {lines[0]}, max {lines[-1]}; "
        f"{loss_text(check(figures['results'], None))}"
    )


# --- main -----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-lines", type=int, default=2000)
    parser.add_argument("--lines", type=int, default=200_000, help="B's seq count")
    parser.add_argument("--viewers", type=int, default=20, help="B's many-viewer run")
    parser.add_argument("--procs", type=int, default=1, help="client processes for viewers")
    parser.add_argument("--memory-viewers", type=int, default=100)
    parser.add_argument("--memory-seconds", type=float, default=10)
    parser.add_argument(
        "--parts", default="ABC", help="which parts to run, e.g. AB (A and B need no C)"
    )
    args = parser.parse_args()
    parts = args.parts.upper()

    stack_ready()
    from tests.servers import PortalServer

    client = docker.DockerClient(base_url=os.environ["DOCKER_HOST"], version="auto", timeout=120)
    workdir = Path(tempfile.mkdtemp(prefix="berth-bench-"))
    salt = secrets.token_hex(3)
    server = None
    began = time.monotonic()
    load_before = os.getloadavg()
    try:
        client.images.get(IMAGE)
        print("starting the server (embedded worker): migrate + seed_demo")
        server = PortalServer(workdir, "embedded").start()
        bench = Bench(client, server, server.token(*USER), salt, args.procs)
        snapshots = {"fresh server": server_snapshot(bench.pid)}

        warm = bench.latency(20)  # loads the log code and its pools once
        if warm["berth"]["error"] or warm["berth"]["distinct"] != 20:
            raise RuntimeError(f"warm-up viewer failed: {loss_text(check([warm['berth']], 20))}")
        if "C" in parts:
            print(f"C. memory: {args.memory_viewers} viewers of one container")
            memory = bench.memory(args.memory_viewers, args.memory_seconds, snapshots)

        if "A" in parts:
            print(f"A. latency: {args.latency_lines} lines at ~100 lines/s")
            latency = bench.latency(args.latency_lines)

        runs = {}
        if "B" in parts:
            for key, viewers in (("direct", 0), ("berth1", 1), ("berthN", args.viewers)):
                print(f"B. throughput: {key}")
                runs[key] = bench.throughput(args.lines, viewers)

        problems = []
        if "A" in parts:
            quantiles = report_latency(latency, args.latency_lines)
            problems += [
                f"A {name}: {loss_text(tally)}"
                for name in ("berth", "direct")
                if (tally := check([latency[name]], args.latency_lines))["lost"]
                or tally["duplicates"]
                or tally["errors"]
            ]
        if "B" in parts:
            ratio, lossy = report_throughput(runs, args.lines)
            problems += lossy
        if "C" in parts:
            report_memory(memory)
        if "B" in parts:
            peak = runs["berthN"]["peak"]["VmHWM"] / 1024
            print(
                f"   peak RSS of the run (VmHWM, after B's {args.viewers} viewers): {peak:.1f} MiB"
            )

        print("\ntargets")
        if "A" in parts:
            for name, target in LATENCY_TARGETS_MS.items():
                berth, floor = quantiles["berth"][name], quantiles["direct"][name]
                print(f"   A Berth {name} {berth:.1f} ms <= {target:g} ms: "
                      f"{'met' if berth <= target else 'MISSED'} (floor, docker SDK follow: "
                      f"{floor:.1f} ms)")  # fmt: skip
        if "B" in parts:
            print(f"   B Berth 1 viewer / direct {ratio:.2f}x >= {THROUGHPUT_TARGET}: "
                  f"{'met' if ratio >= THROUGHPUT_TARGET else 'MISSED'}")  # fmt: skip
        print(f"   zero loss: {'met' if not problems else 'MISSED: ' + ' | '.join(problems)}")
        print(
            f"\ncontext: load average {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} "
            f"after, on {os.cpu_count()} CPUs; {args.procs} client process(es); "
            f"total {time.monotonic() - began:.0f} s"
        )
    except Exception:
        if server is not None:
            print(server.logs(), file=sys.stderr)
        raise
    finally:
        for leftover in client.api.containers(all=True, filters={"label": f"berth.bench={salt}"}):
            with contextlib.suppress(docker.errors.NotFound):
                client.api.remove_container(leftover["Id"], force=True)
        if server is not None:
            server.stop()
        client.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
