"""Deployment benchmark: Berth's rolling and Swarm deployments against doing it by hand.

Against the real stack (scripts/stack.sh), in one run, alternating two digests of
demo/app (the stack's image and a variant with the same layers and a changed config
label) so that every run really replaces what runs:

A. Berth rolling: ``POST /api/deployments/`` to a real server (embedded mode, the
   worker in-process) until ``GET /api/deployments/<id>/``, polled every 50 ms, says
   succeeded. Dev, 3 replicas of busybox httpd on loopback (port base + slot), an HTTP
   health check (Docker HEALTHCHECK with wget), rolling in batches of 1.
B. The floor for A: the same sequence scripted with the docker SDK: per slot stop (and
   keep) the old container, run the new one (same image by digest, PORT, labels, host
   network and HEALTHCHECK), poll its health every 0.2 s as Berth does; remove the old
   ones at the end.
C. Berth Swarm: the same request against a swarm-mode environment created through the
   API (2 replicas, a command health check, parallelism 1, start-first, monitor 2 s)
   against ``docker service update --image ...`` (synchronous: it waits for the service
   to converge) on a twin service made with ``docker service create``.

The first run of each path creates from nothing and is not counted. Berth and direct
runs are interleaved, so load from anything else on the machine hits both alike. Both
digests are pulled before timing: the comparison is about orchestration. Berth's time
is split into phases from its deployment events, next to the same phases of B.

httpd runs as PID 1 and ignores SIGTERM, so stopping an old replica waits Docker's whole
10 s stop timeout on both paths: a rolling run takes over 30 s, hence 5 counted runs per
scenario by default (about 7 minutes in all; --rolling-runs and --swarm-runs change it).

Run: ``.venv/bin/python tests/benchmarks/bench_deploy.py`` or ``make bench``.
Without DOCKER_HOST and BERTH_REGISTRY_URL in the environment, the stack's stack.env
is read. Nothing is pulled from outside the local registry.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import secrets
import shutil
import socket
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import docker
import requests
from _common import percentile, run_docker, stack_ready

REPOSITORY = "demo/app"
VARIANT = "bench-deploy-v2"  # fixed, so v2 has the same digest on every run
HTTP_COMMAND = [
    "sh",
    "-c",
    "busybox mkdir -p /www && echo ok > /www/health && exec httpd -f -p 127.0.0.1:$PORT -h /www",
]
HTTP_HEALTH = {"http_path": "/health", "interval": 0.5, "timeout": 1, "retries": 2}
ROLLING_REPLICAS = 3
READY_COMMAND = ["sh", "-c", "echo up > /tmp/up && exec sleep 3600"]
READY_HEALTH = {"command": ["cat", "/tmp/up"], "interval": 0.5, "timeout": 1, "retries": 2}
SWARM_REPLICAS = 2
SWARM_STRATEGY = {"type": "swarm", "parallelism": 1, "order": "start-first", "monitor": 2}
SWARM_SLUG = "bench-swarm"
POLL_API = 0.05  # how often the client asks Berth whether the deployment finished
POLL_HEALTH = 0.2  # environments.deploying.strategies.POLL
# The test image's httpd runs as PID 1 and ignores SIGTERM, so a stop always waits out
# its timeout: both paths use the same short one (Berth's stop_grace_period).
STOP_TIMEOUT = 1
TARGET = 1.15


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def parse_time(value: str) -> float:
    """An ISO 8601 / RFC 3339 timestamp (Django's or Docker's nanoseconds) as epoch seconds."""
    value = value.replace("Z", "+00:00")
    if "." in value:
        head, _, rest = value.partition(".")
        digits = "".join(c for c in rest if c.isdigit())
        zone = rest[len(digits) :]
        value = f"{head}.{digits[:6]}{zone}"
    return datetime.fromisoformat(value).timestamp()


def free_port_base(taken: set[int]) -> int:
    """A base port (20000-40000, step 200) whose replica ports are free on loopback now."""
    for _ in range(100):
        base = random.randrange(20000, 40000, 200)
        if base in taken:
            continue
        try:
            for port in range(base, base + ROLLING_REPLICAS):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free port range between 20000 and 40000")


# --- the two digests ----------------------------------------------------------------------


# --- A and C: Berth through its API -----------------------------------------------------


class Berth:
    def __init__(self, server):
        self.url = server.url
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Token {server.token('admin', 'berth-admin')}"

    def _call(self, method: str, path: str, expect: int, **body) -> dict:
        response = self.http.request(method, f"{self.url}{path}", json=body or None, timeout=30)
        if response.status_code != expect:
            raise RuntimeError(f"{method} {path} answered {response.status_code}: {response.text}")
        return response.json()

    def registry_id(self, name: str) -> int:
        body = self._call("GET", "/api/registries/", 200)
        rows = body["results"] if isinstance(body, dict) else body
        return next(row["id"] for row in rows if row["name"] == name)

    def create_swarm_environment(self, registry_id: int) -> dict:
        return self._call(
            "POST", "/api/environments/", 201, name="Bench Swarm", slug=SWARM_SLUG, position=99,
            endpoint_url=os.environ["DOCKER_HOST"], mode="swarm", registry=registry_id,
            # Its services use the host's network; new environments refuse that unless an
            # administrator allows it (the seeded ones, like dev, do).
            allow_host_network=True,
        )  # fmt: skip

    def create_service(self, name: str) -> int:
        body = self._call(
            "POST", "/api/services/", 201, name=name, registry="local", repository=REPOSITORY
        )
        return body["id"]

    def save_config(self, service_id: int, environment: str, document: dict) -> None:
        self._call(
            "POST",
            f"/api/services/{service_id}/configs/",
            201,
            environment=environment,
            document=document,
        )

    def deploy(self, service: str, environment: str, digest: str, timeout: float = 180) -> dict:
        """POST the deployment and poll it every 50 ms; returns the finished deployment with
        ``elapsed`` (s) and the client's wall-clock ``posted``/``seen`` times."""
        posted = time.time()
        started = time.perf_counter()
        response = self.http.post(
            f"{self.url}/api/deployments/",
            json={"service": service, "environment": environment, "digest": digest},
            timeout=30,
        )
        if response.status_code != 202:
            raise RuntimeError(f"deploy answered {response.status_code}: {response.text}")
        url = f"{self.url}/api/deployments/{response.json()['id']}/"
        deadline = started + timeout
        while True:
            body = self.http.get(url, timeout=30).json()
            if body["status"] not in ("pending", "running"):
                break
            if time.perf_counter() > deadline:
                raise RuntimeError(
                    f"deployment {body['id']} still {body['status']} after {timeout} s"
                )
            time.sleep(POLL_API)
        elapsed = time.perf_counter() - started
        if body["status"] != "succeeded":
            raise RuntimeError(f"deployment {body['id']} {body['status']}: {body['reason']}")
        return body | {"elapsed": elapsed, "posted": posted, "seen": time.time()}


def pickup(deployment: dict) -> float:
    """Seconds from the Queued event to the worker claiming the deployment."""
    return parse_time(deployment["started_at"]) - parse_time(deployment["events"][0]["at"])


def berth_rolling_phases(deployment: dict) -> dict[str, float]:
    """Split one rolling deployment's wall time into phases, from its event timestamps."""
    events = [(parse_time(e["at"]), e["message"]) for e in deployment["events"]]

    def first(prefix: str, after: float = 0.0) -> float | None:
        return next((at for at, m in events if m.startswith(prefix) and at >= after), None)

    queued, done = first("Queued"), first("Deployment succeeded")
    ready = first("Image ready")
    # An image already on the engine is not pulled again (no "Pulling" event): its pull
    # phase is then 0 and the phase before it ends when the image was found.
    pulling = first("Pulling ") or ready
    phases = {
        "request (POST -> Queued)": queued - deployment["posted"],
        "pick-up (Queued -> claimed)": parse_time(deployment["started_at"]) - queued,
        "claim -> pull or image found": pulling - parse_time(deployment["started_at"]),
        "pull by digest (0 if present)": ready - pulling,
        "stop old replica x3": 0.0,
        "run + wait healthy x3": 0.0,
        "bookkeeping (list, events)": 0.0,
        "remove old replicas": 0.0,
        "finish (status + event)": 0.0,
        "client sees it (50 ms poll)": deployment["seen"] - done,
    }
    # Start-first rolling, per slot: Starting replica N, Replica N is healthy, Stopping
    # old replica N (drained first when an entry point has it), N of 3 replicas replaced.
    # "Starting" is written just before the container is created, "healthy" just after
    # the inspect that saw it healthy.
    cursor = ready
    for slot in range(1, ROLLING_REPLICAS + 1):
        starting = first(f"Starting replica {slot} ", cursor)
        healthy = first(f"Replica {slot} of {ROLLING_REPLICAS} is healthy", starting)
        phases["bookkeeping (list, events)"] += starting - cursor
        phases["run + wait healthy x3"] += healthy - starting
        cursor = healthy
        stopping = first(f"Stopping old replica {slot}", cursor)
        if stopping is not None:  # a first deployment has no old replicas
            replaced = first(f"{slot} of {ROLLING_REPLICAS} replicas replaced", stopping)
            phases["bookkeeping (list, events)"] += stopping - cursor
            phases["stop old replica x3"] += replaced - stopping
            cursor = replaced
    removing = first("Removing old replicas", cursor)
    phases["bookkeeping (list, events)"] += removing - cursor
    finished = parse_time(deployment["finished_at"])
    phases["remove old replicas"] = finished - removing
    phases["finish (status + event)"] = done - finished
    return phases


def berth_swarm_phases(deployment: dict) -> dict[str, float]:
    events = [(parse_time(e["at"]), e["message"]) for e in deployment["events"]]

    def first(prefix: str) -> float | None:
        return next((at for at, m in events if m.startswith(prefix)), None)

    queued, done = first("Queued"), first("Deployment succeeded")
    claimed = parse_time(deployment["started_at"])
    ready = first("Image ready")
    pulling = first("Pulling ") or ready  # none when the image was on the engine already
    updating = first("Updating Swarm service")
    finished = parse_time(deployment["finished_at"])
    return {
        "request (POST -> Queued)": queued - deployment["posted"],
        "pick-up (Queued -> claimed)": claimed - queued,
        "claim -> pull or image found": pulling - claimed,
        "pull by digest (0 if present)": ready - pulling,
        "service update call": updating - ready,
        "converge (poll every 0.2 s)": finished - updating,
        "finish (status + event)": done - finished,
        "client sees it (50 ms poll)": deployment["seen"] - done,
    }


# --- B: the same rolling sequence with the docker SDK -----------------------------------


class DirectRolling:
    """Berth's rolling strategy without Berth: the floor for A."""

    def __init__(self, client: docker.DockerClient, name: str, base_port: int):
        self.client = client
        self.name = name
        self.base_port = base_port
        self.live: list[tuple[int, str]] = []  # (slot, container id) of the last run

    def _run(self, image: str, slot: int, run: int) -> str:
        port = self.base_port + slot
        healthcheck = {
            "test": ["CMD-SHELL", f"wget -q -O /dev/null http://127.0.0.1:{port}/health || exit 1"],
            "interval": int(HTTP_HEALTH["interval"] * 1e9),
            "timeout": int(HTTP_HEALTH["timeout"] * 1e9),
            "retries": HTTP_HEALTH["retries"],
            "start_period": 0,
        }
        labels = {
            "berth.service": self.name, "berth.environment": "bench-direct",
            "berth.deployment": str(run), "berth.revision": "1", "berth.slot": str(slot),
            "berth.colour": "blue", "berth.port": str(port),
        }  # fmt: skip
        container = self.client.containers.run(
            image, command=HTTP_COMMAND, name=f"{self.name}-{slot + 1}-r{run}", detach=True,
            environment={"PORT": str(port)}, labels=labels, network_mode="host",
            healthcheck=healthcheck,
        )  # fmt: skip
        return container.id

    def _wait_healthy(self, container_id: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            state = self.client.api.inspect_container(container_id)["State"]
            if (state.get("Health") or {}).get("Status") == "healthy":
                return
            if state.get("Status") in ("exited", "dead"):
                raise RuntimeError(f"direct replica {container_id[:12]} exited")
            if time.monotonic() > deadline:
                raise RuntimeError(f"direct replica {container_id[:12]} not healthy in time")
            time.sleep(POLL_HEALTH)

    def deploy(self, image: str, run: int) -> dict:
        phases = {"stop old replica x3": 0.0, "run + wait healthy x3": 0.0}
        run_only = 0.0
        old = dict(self.live)
        started = time.perf_counter()
        new: list[tuple[int, str]] = []
        for slot in range(ROLLING_REPLICAS):
            mark = time.perf_counter()
            if slot in old:
                self.client.api.stop(old[slot], timeout=STOP_TIMEOUT)
            phases["stop old replica x3"] += time.perf_counter() - mark
            mark = time.perf_counter()
            container_id = self._run(image, slot, run)
            run_only += time.perf_counter() - mark
            self._wait_healthy(container_id)
            phases["run + wait healthy x3"] += time.perf_counter() - mark
            new.append((slot, container_id))
        mark = time.perf_counter()
        for container_id in old.values():
            self.client.api.remove_container(container_id, force=True)
        phases["remove old replicas"] = time.perf_counter() - mark
        elapsed = time.perf_counter() - started
        self.live = new
        phases["rest (loop, bookkeeping)"] = elapsed - sum(phases.values())
        return {"elapsed": elapsed, "phases": phases, "run_only": run_only}


# --- C': the Swarm twin with the docker CLI -----------------------------------------------


def create_twin(name: str, image: str) -> None:
    labels = []
    for key, value in (("berth.service", name), ("berth.environment", "bench-direct")):
        labels += ["--label", f"{key}={value}", "--container-label", f"{key}={value}"]
    run_docker(
        "service", "create", "--detach=false", "--quiet", "--name", name,
        "--replicas", str(SWARM_REPLICAS), "--network", "host", "--endpoint-mode", "dnsrr",
        "--health-cmd", " ".join(READY_HEALTH["command"]),
        "--health-interval", f"{READY_HEALTH['interval']}s",
        "--health-timeout", f"{READY_HEALTH['timeout']}s",
        "--health-retries", str(READY_HEALTH["retries"]), "--health-start-period", "0s",
        "--update-parallelism", "1", "--update-delay", "0s", "--update-order", "start-first",
        "--update-failure-action", "rollback", "--update-monitor", "2s",
        "--rollback-parallelism", "0", "--rollback-order", "start-first",
        "--rollback-failure-action", "continue", "--rollback-monitor", "0s",
        *labels, image, *READY_COMMAND,
    )  # fmt: skip


def update_twin(name: str, image: str) -> float:
    started = time.perf_counter()
    run_docker(
        "service", "update", "--image", image, "--update-parallelism", "1",
        "--update-order", "start-first", "--update-monitor", "2s", name,
    )  # fmt: skip
    return time.perf_counter() - started


def swarm_update_seconds(client: docker.DockerClient, name: str) -> float | None:
    """How long Swarm itself says the last update took (UpdateStatus StartedAt..CompletedAt)."""
    status = client.services.get(name).attrs.get("UpdateStatus") or {}
    if status.get("State") != "completed" or not status.get("CompletedAt"):
        return None
    return parse_time(status["CompletedAt"]) - parse_time(status["StartedAt"])


# --- report ---------------------------------------------------------------------------------


def row(name: str, times: list[float], ratio: str = "") -> str:
    return (
        f"{name:<40} {len(times):>4} {median(times):>9.2f} {percentile(times, 0.95):>9.2f}  {ratio}"
    )


def ratio_text(berth: list[float], direct: list[float]) -> tuple[float, str]:
    p50 = median(berth) / median(direct)
    p95 = percentile(berth, 0.95) / percentile(direct, 0.95)
    return p50, f"{p50:.3f}x (p95 {p95:.3f}x)"


def phase_table(title: str, berth: list[dict], direct: list[dict] | None) -> None:
    print(f"\n{title} (median seconds per run)")
    print(f"  {'phase':<34} {'Berth':>8}" + (f" {'direct':>8}" if direct else ""))
    names = list(berth[0]) + [name for name in (direct or [{}])[0] if name not in berth[0]]

    def cell(runs: list[dict], name: str) -> str:
        return f"{median([p[name] for p in runs]):>8.3f}" if name in runs[0] else f"{'-':>8}"

    for name in names:
        print(f"  {name:<34} {cell(berth, name)}" + (f" {cell(direct, name)}" if direct else ""))
    line = f"  {'sum':<34} {median([sum(p.values()) for p in berth]):>8.3f}"
    if direct:
        line += f" {median([sum(p.values()) for p in direct]):>8.3f}"
    print(line)


def report(results: dict) -> None:
    rolling_ratio, rolling_text = ratio_text(results["berth_rolling"], results["direct_rolling"])
    swarm_ratio, swarm_text = ratio_text(results["berth_swarm"], results["direct_swarm"])
    print()
    print(f"{'deployment (seconds)':<40} {'runs':>4} {'p50':>9} {'p95':>9}  Berth/direct")
    print(row(f"A Berth rolling, {ROLLING_REPLICAS} replicas (API)", results["berth_rolling"]))
    print(row("B docker SDK, same sequence (floor)", results["direct_rolling"], rolling_text))
    print(row(f"C Berth swarm update, {SWARM_REPLICAS} replicas (API)", results["berth_swarm"]))
    print(row("C docker service update (CLI)", results["direct_swarm"], swarm_text))
    print()
    for label, ratio in (("rolling", rolling_ratio), ("swarm", swarm_ratio)):
        verdict = "met" if ratio <= TARGET else "MISSED"
        print(f"target Berth p50 <= {TARGET}x direct, {label}: {verdict} ({ratio:.3f}x)")

    berth_phases, direct_phases = results["berth_rolling_phases"], results["direct_rolling_phases"]
    stop = "stop old replica x3"
    without_b = [sum(p.values()) - p[stop] for p in berth_phases]
    without_d = [sum(p.values()) - p[stop] for p in direct_phases]
    print(
        f"rolling without the stop of the old replicas (httpd is PID 1 and ignores SIGTERM, "
        f"so each stop waits the {STOP_TIMEOUT} s timeout): Berth {median(without_b):.2f} s, "
        f"direct {median(without_d):.2f} s, {median(without_b) / median(without_d):.2f}x"
    )
    phase_table("A vs B, rolling", berth_phases, direct_phases)
    print(
        f"  (direct: of run + wait healthy, containers.run itself took "
        f"{median(results['direct_run_only']):.3f} s for the 3 replicas)"
    )
    phase_table("C, Berth swarm", results["berth_swarm_phases"], None)
    own_b = [s for s in results["swarm_own_berth"] if s is not None]
    own_d = [s for s in results["swarm_own_direct"] if s is not None]
    if own_b and own_d:
        print(
            f"  Swarm's own UpdateStatus StartedAt..CompletedAt: Berth's service "
            f"{median(own_b):.3f} s, the twin {median(own_d):.3f} s; overhead over it: "
            f"Berth {median(results['berth_swarm']) - median(own_b):.3f} s, CLI "
            f"{median(results['direct_swarm']) - median(own_d):.3f} s"
        )


# --- main -----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rolling-runs", type=int, default=5, help="counted runs of A and B")
    parser.add_argument("--swarm-runs", type=int, default=5, help="counted runs of C")
    args = parser.parse_args()

    registry_url = stack_ready()
    from registry.client import RegistryClient
    from tests.registries import image_variant
    from tests.servers import PortalServer

    registry = RegistryClient(registry_url)
    client = docker.DockerClient(base_url=os.environ["DOCKER_HOST"], version="auto", timeout=120)
    workdir = Path(tempfile.mkdtemp(prefix="berth-bench-"))
    salt = secrets.token_hex(3)
    berth_name, direct_name, twin_name = f"bd-{salt}", f"bd-direct-{salt}", f"bd-twin-{salt}"
    berth_swarm_name = f"{berth_name}-{SWARM_SLUG}"
    server = None
    v2_was_local = True
    v2_image = ""
    began = time.monotonic()
    results: dict[str, list] = {
        key: []
        for key in (
            "berth_rolling", "direct_rolling", "berth_rolling_phases", "direct_rolling_phases",
            "berth_swarm", "direct_swarm", "berth_swarm_phases", "swarm_own_berth",
            "swarm_own_direct", "direct_run_only",
        )
    }  # fmt: skip
    try:
        v1 = registry.resolve(REPOSITORY, "latest")
        v2 = image_variant(registry, REPOSITORY, v1, VARIANT).digest
        images = [f"{registry.host}/{REPOSITORY}@{digest}" for digest in (v1, v2)]
        v2_image = images[1]
        try:
            client.images.get(v2_image)
        except docker.errors.ImageNotFound:
            v2_was_local = False
        for image in images:  # both paths then find both digests present
            client.api.pull(f"{registry.host}/{REPOSITORY}", tag=image.split("@")[1])
        print(f"v1 {images[0]}\nv2 {images[1]} (v1 with label berth.test.variant={VARIANT})")

        print("starting the server (embedded worker): migrate + seed_demo")
        server = PortalServer(workdir, "embedded").start()
        berth = Berth(server)
        berth_base = free_port_base(set())
        direct_base = free_port_base({berth_base})
        service_id = berth.create_service(berth_name)
        berth.save_config(
            service_id, "dev", {
                "replicas": ROLLING_REPLICAS, "command": HTTP_COMMAND, "port": berth_base,
                "health_check": HTTP_HEALTH, "strategy": {"type": "rolling", "batch_size": 1},
                "stop_grace_period": STOP_TIMEOUT,
            },
        )  # fmt: skip
        direct = DirectRolling(client, direct_name, direct_base)

        runs = args.rolling_runs
        print(
            f"A/B rolling: 1 uncounted + {runs} runs each, interleaved; ports "
            f"{berth_base}+ (Berth), {direct_base}+ (direct)"
        )
        for run in range(runs + 1):
            digest = (v1, v2)[run % 2]
            deployment = berth.deploy(berth_name, "dev", digest)
            done = direct.deploy(images[run % 2], run)
            note = " (creates, not counted)" if run == 0 else ""
            print(
                f"  run {run}: Berth {deployment['elapsed']:.2f} s (pick-up "
                f"{pickup(deployment):.2f} s), direct {done['elapsed']:.2f} s, "
                f"v{run % 2 + 1}{note}"
            )
            if run == 0:
                continue
            results["berth_rolling"].append(deployment["elapsed"])
            results["berth_rolling_phases"].append(berth_rolling_phases(deployment))
            results["direct_rolling"].append(done["elapsed"])
            results["direct_rolling_phases"].append(done["phases"])
            results["direct_run_only"].append(done["run_only"])
        last_rolling = deployment

        environment = berth.create_swarm_environment(berth.registry_id("local"))
        berth.save_config(
            service_id, environment["slug"], {
                "replicas": SWARM_REPLICAS, "command": READY_COMMAND, "network_mode": "host",
                "health_check": READY_HEALTH, "strategy": SWARM_STRATEGY,
            },
        )  # fmt: skip
        runs = args.swarm_runs
        print(f"C swarm: 1 creating + {runs} updates each, interleaved")
        for run in range(runs + 1):
            digest = (v1, v2)[run % 2]
            deployment = berth.deploy(berth_name, SWARM_SLUG, digest)
            own_berth = swarm_update_seconds(client, berth_swarm_name)
            if run == 0:
                started = time.perf_counter()
                create_twin(twin_name, images[0])
                took = time.perf_counter() - started
            else:
                took = update_twin(twin_name, images[run % 2])
            own_twin = swarm_update_seconds(client, twin_name)
            if run == 0:
                print(
                    f"  run 0: Berth {deployment['elapsed']:.2f} s (pick-up "
                    f"{pickup(deployment):.2f} s), docker service create {took:.2f} s, v1 "
                    "(creates, not counted)"
                )
                continue
            print(
                f"  run {run}: Berth {deployment['elapsed']:.2f} s (pick-up "
                f"{pickup(deployment):.2f} s, Swarm's own {own_berth or 0:.2f} s), docker "
                f"service update {took:.2f} s (Swarm's own {own_twin or 0:.2f} s), "
                f"v{run % 2 + 1}"
            )
            results["berth_swarm"].append(deployment["elapsed"])
            results["berth_swarm_phases"].append(berth_swarm_phases(deployment))
            results["direct_swarm"].append(took)
            results["swarm_own_berth"].append(own_berth)
            results["swarm_own_direct"].append(own_twin)

        report(results)
        print(
            "\nlast rolling deployment's events: "
            + "; ".join(
                f"+{parse_time(e['at']) - last_rolling['posted']:.2f} {e['message']}"
                for e in last_rolling["events"]
            )
        )
        others = [
            c.name
            for c in client.containers.list()
            if c.labels.get("berth.service") not in (berth_name, direct_name, twin_name)
        ]
        print(
            f"context: load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs, "
            f"{len(others)} other running container(s) on the engine"
        )
        print(f"total {time.monotonic() - began:.0f} s")
    except Exception:
        if server is not None:
            print(server.logs(), file=sys.stderr)
        raise
    finally:
        for name in (berth_swarm_name, twin_name):
            with contextlib.suppress(docker.errors.NotFound):
                client.services.get(name).remove()
        for name in (berth_name, direct_name):
            for leftover in client.api.containers(
                all=True, filters={"label": f"berth.service={name}"}
            ):
                with contextlib.suppress(docker.errors.NotFound):
                    client.api.remove_container(leftover["Id"], force=True)
        if server is not None:
            server.stop()
        # Swarm removes a service's containers itself, after their stop grace period.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(
            client.api.containers(
                all=True, filters={"label": f"com.docker.swarm.service.name={name}"}
            )
            for name in (berth_swarm_name, twin_name)
        ):
            time.sleep(0.5)
        if v2_image and not v2_was_local:
            try:
                client.images.remove(v2_image)
            except docker.errors.APIError as exc:
                print(f"note: left {v2_image} on the engine: {exc.explanation}")
        client.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
