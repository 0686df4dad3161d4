"""Pipeline benchmark, in one run against the real stack:

1. Berth's own overhead on a full run (build from a local git repository, deploy to Dev,
   deploy to Test, a test container, an approval, a promote): the run's wall time, minus
   the time people took to approve, against the same work done directly with the docker
   SDK and the registry API: clone, build and push; per deploy the pull by digest and a
   container with the same health check, waited for until healthy; the test container
   (run, wait, logs, remove); the promote's retag (manifest GET by digest, PUT under
   Ops' moving tag and the version, as Berth writes both, one after the other). Target
   <= 5 %. Where Berth's time goes: each stage's median beside the same step done
   directly (and the rest: starting the run, between stages, finishing it), and a
   timeline of the last run (each stage's start, end and the gap before it, and each
   deployment's events). The full run and the direct work alternate
   ``BENCH_FULL_RUNS`` times (9); the medians are compared. Runs are followed on one
   websocket each, as the run page follows them.
2. The time from an approval click (the API call) to the next stage starting, p50 over
   several runs. Target <= 1 s.

Berth runs as a real server (`manage.py serve` with its embedded worker) on the stack's engine and
registry. Figures under load vary: the load average is printed beside them.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_ms, percentile, stack_ready  # noqa: E402

stack_ready()

import docker  # noqa: E402
import requests  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from tests.servers import PortalServer  # noqa: E402
from tests.stack import remove_service_containers  # noqa: E402

IMAGE = os.environ.get("BERTH_TEST_IMAGE", "berth/testapp:latest")
IDLE = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.2; done"]
TEST_COMMAND = "test -f /built && echo ok"
# The deployed replicas' health check, the same for Berth (the service config) and the
# direct floor (the container's HEALTHCHECK): a command, every half second.
HEALTH = {"command": ["true"], "interval": 0.5, "timeout": 2, "retries": 3}
DIRECT_HEALTH = {"test": ["CMD", "true"], "interval": 500_000_000, "timeout": 2_000_000_000,
                 "retries": 3}  # fmt: skip
APPROVAL_RUNS = int(os.environ.get("BENCH_APPROVAL_RUNS", "7"))
FULL_RUNS = int(os.environ.get("BENCH_FULL_RUNS", "9"))
# How often the approval-latency part looks at a run (the full runs are followed over
# their websocket, as the run page does: asking the API many times a second would load
# the server, and so the run measured, with work no user causes).
FOLLOW_EVERY = 0.25


def git_repo(workdir: Path) -> str:
    bare, work = workdir / "app.git", workdir / "work"
    git = ["git", "-c", "user.name=b", "-c", "user.email=b@example.com"]
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    (work / "Dockerfile").write_text(f"FROM {IMAGE}\nARG NONCE\nRUN echo built-$NONCE > /built\n")
    subprocess.run([*git, "-C", str(work), "add", "."], check=True)
    subprocess.run([*git, "-C", str(work), "commit", "-qm", "app"], check=True)
    subprocess.run([*git, "-C", str(work), "push", "-q", str(bare), "main"], check=True)
    return str(bare)


def seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def wait(api, url, done, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = api.get(url).json()
        if done(run):
            return run
        time.sleep(FOLLOW_EVERY)
    raise SystemExit(f"timed out: {run}")


def stage(run, name):
    return next(s for s in run["stages"] if s["name"] == name)


def run_socket(server, secret: str, run_id: int):
    """The run's websocket, opened once and followed for the whole run, as its page does
    (the page stays connected through the approval; it does not reconnect)."""
    url = f"ws{server.url.removeprefix('http')}/ws/pipeline-runs/{run_id}/"
    headers = {"Authorization": f"Token {secret}", "Origin": server.url}
    return connect(url, additional_headers=headers, open_timeout=10)


def follow(socket, until: tuple[str, ...], timeout=300) -> None:
    """Read the run's events until its status is one of ``until``."""
    deadline = time.monotonic() + timeout
    while True:
        message = json.loads(socket.recv(timeout=max(0.1, deadline - time.monotonic())))
        if message["type"] == "snapshot":
            status = message["status"]
        elif message["event"]["kind"] == "run":
            status = message["event"]["data"].get("status")
        else:
            continue
        if status in until:
            return


def berth_full_run(
    server, api, secret: str, repo: str, service: str, name: str, show: bool
) -> tuple[float, float, str]:
    """(wall seconds, seconds spent waiting for the approval, digest, seconds per stage);
    with ``show`` the run's timeline is printed."""
    text = f"""\
allow_self_approval: true
stages:
  - {{name: build, kind: build, environment: dev, git: {{url: {repo}, ref: main}}, build_args: {{NONCE: "{uuid.uuid4().hex}"}}}}
  - {{name: deploy-dev, kind: deploy, environment: dev}}
  - {{name: deploy-test, kind: deploy, environment: test}}
  - {{name: smoke, kind: test, environment: test, command: "{TEST_COMMAND}"}}
  - {{name: qa, kind: approval, environment: test}}
  - {{name: promote, kind: promote, environment: test, version: "9.{uuid.uuid4().int % 100000}.0"}}
"""
    created = api.post(
        f"{server.url}/api/pipelines/", json={"service": service, "name": name, "text": text}
    )
    created.raise_for_status()
    start = time.time()
    run = api.post(f"{server.url}/api/pipelines/{created.json()['id']}/run/", json={}).json()
    url = f"{server.url}/api/pipeline-runs/{run['id']}/"
    with run_socket(server, secret, run["id"]) as socket:
        follow(socket, ("waiting", "succeeded", "failed", "cancelled"))
        run = api.get(url).json()
        if run["status"] != "waiting":
            raise SystemExit(f"the run did not reach its approval: {run['reason']}")
        waiting_since = seconds(stage(run, "qa")["started_at"])
        clicked = time.time()
        api.post(f"{url}approve/", json={"stage": "qa"}).raise_for_status()
        follow(socket, ("succeeded", "failed", "cancelled"))
    run = api.get(url).json()
    if run["status"] != "succeeded":
        raise SystemExit(f"the run {run['status']}: {run['reason']}")
    total = seconds(run["finished_at"]) - start
    if show:
        print_timeline(server, api, run, start)
    steps = {item["name"]: item["duration"] or 0.0 for item in run["stages"]}
    steps["qa"] = seconds(stage(run, "qa")["finished_at"]) - clicked  # after the click
    return total, clicked - waiting_since, run["digest"], steps


def print_timeline(server, api, run, start: float) -> None:
    print("  timeline (seconds from the Run click): stage, started, finished, gap before it")
    previous_end = seconds(run["created_at"]) if run.get("created_at") else start
    for item in run["stages"]:
        began, ended = seconds(item["started_at"]), seconds(item["finished_at"])
        print(f"  {item['name']:<12} {began - start:7.2f} {ended - start:7.2f}"
              f"  {item['duration'] or 0:6.2f} s  gap {began - previous_end:5.2f} s")  # fmt: skip
        previous_end = ended
        deployment = (item.get("results") or {}).get("deployment")
        if deployment:  # where a deploy stage's time goes
            for event in api.get(f"{server.url}/api/deployments/{deployment}/").json()["events"]:
                print(f"      {seconds(event['at']) - began:6.2f}  {event['message'][:70]}")
    print(f"  run finished {seconds(run['finished_at']) - start:7.2f}")


def direct_work(repo: str, registry_host: str) -> tuple[float, dict[str, float]]:
    """The same work with the docker SDK and the registry API, as a script would do it:
    clone, build, push; per deploy (Dev, Test) the pull by digest and one container with
    the same health check, waited for until healthy; the test container (run, wait, logs,
    remove); the promote's retag (manifest GET by digest, PUT under the target's moving
    tag, then the version: the two tags Berth's promote writes, in its order).
    Returns the wall seconds and the seconds of each step, named as Berth's stages."""
    from registry.client import RegistryClient

    client = docker.DockerClient(base_url=os.environ["DOCKER_HOST"], version="auto", timeout=600)
    registry = RegistryClient(os.environ["BERTH_REGISTRY_URL"])
    started = time.perf_counter()
    repository = "bench/pipeline-direct"
    reference = f"{registry_host}/{repository}"
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["git", "clone", "-q", "-b", "main", repo, f"{tmp}/src"], check=True)
        tag = uuid.uuid4().hex[:12]
        for _ in client.api.build(path=f"{tmp}/src", tag=f"{reference}:{tag}", network_mode="host",
                                  buildargs={"NONCE": uuid.uuid4().hex}, rm=True, decode=True):  # fmt: skip
            pass
        for _ in client.api.push(reference, tag=tag, stream=True, decode=True):
            pass
    digest = registry.resolve(repository, tag)
    image = f"{reference}@{digest}"
    replicas = []
    steps = {"build": time.perf_counter() - started}
    for environment in ("dev", "test"):
        began = time.perf_counter()
        for _ in client.api.pull(reference, digest, stream=True, decode=True):
            pass
        container = client.containers.run(
            image, IDLE, network_mode="host", detach=True, healthcheck=DIRECT_HEALTH
        )
        while client.api.inspect_container(container.id)["State"]["Health"]["Status"] != "healthy":
            time.sleep(0.05)
        replicas.append(container)
        steps[f"deploy-{environment}"] = time.perf_counter() - began
    began = time.perf_counter()
    test = client.containers.run(
        image, ["sh", "-c", TEST_COMMAND], network_mode="host", detach=True
    )
    test.wait()
    test.logs()
    test.remove(force=True)
    steps["smoke"] = time.perf_counter() - began
    began = time.perf_counter()
    manifest = registry.get_manifest(repository, digest)
    for target_tag in ("qa-passed", f"v{tag}"):
        registry.put_manifest(repository, target_tag, manifest)
    steps["promote"] = time.perf_counter() - began
    elapsed = time.perf_counter() - started
    for container in replicas:
        container.remove(force=True)
    client.close()
    return elapsed, steps


def print_steps(berth: float, floor: float, berth_steps: list[dict], floor_steps: list[dict]):
    """Where the difference is: each stage's median beside the same step done directly,
    and the rest (starting the run, between stages, finishing it)."""
    print("  step medians, seconds:   Berth    SDK   Berth - SDK")
    rest_berth, rest_floor = berth, floor
    for name in berth_steps[0]:
        mine = statistics.median(steps[name] for steps in berth_steps)
        theirs = statistics.median(steps.get(name, 0.0) for steps in floor_steps)
        rest_berth, rest_floor = rest_berth - mine, rest_floor - theirs
        label = f"{name} (after the click)" if name == "qa" else name
        print(f"    {label:<22} {mine:6.3f} {theirs:6.3f}  {mine - theirs:+7.3f}")
    print(f"    {'the rest':<22} {rest_berth:6.3f} {rest_floor:6.3f}  {rest_berth - rest_floor:+7.3f}"
          "  (starting the run, between stages, finishing it)")  # fmt: skip


def approval_latency(server, api, service: str, digest: str) -> list[float]:
    text = """\
allow_self_approval: true
stages:
  - {name: qa, kind: approval, environment: dev, permission: deploy_to_environment}
  - {name: after, kind: test, environment: dev, command: "true"}
"""
    created = api.post(
        f"{server.url}/api/pipelines/", json={"service": service, "name": "gate", "text": text}
    )
    created.raise_for_status()
    latencies = []
    for _ in range(APPROVAL_RUNS):
        run = api.post(
            f"{server.url}/api/pipelines/{created.json()['id']}/run/", json={"digest": digest}
        ).json()
        url = f"{server.url}/api/pipeline-runs/{run['id']}/"
        wait(api, url, lambda r: r["status"] == "waiting")
        clicked = time.time()
        api.post(f"{url}approve/", json={"stage": "qa"}).raise_for_status()
        run = wait(api, url, lambda r: stage(r, "after")["started_at"] is not None)
        latencies.append(seconds(stage(run, "after")["started_at"]) - clicked)
        wait(api, url, lambda r: r["status"] in ("succeeded", "failed"))
    return latencies


def new_service(server, api) -> str:
    """A service with a config in Dev and Test, nothing deployed yet: every full run
    deploys fresh, as the direct work does (no old replica to stop on either side)."""
    name = f"bench{uuid.uuid4().hex[:6]}"
    created = api.post(f"{server.url}/api/services/",
                       json={"name": name, "registry": "local", "repository": f"bench/{name}"})  # fmt: skip
    created.raise_for_status()
    for env in ("dev", "test"):
        api.post(f"{server.url}/api/services/{created.json()['id']}/configs/", json={
            "environment": env, "document": {"replicas": 1, "command": IDLE, "stop_grace_period": 1, "health_check": HEALTH,
                                             "strategy": {"type": "recreate"}},
        }).raise_for_status()  # fmt: skip
    return name


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="berth-bench-pipeline-"))
    server = PortalServer(workdir, "embedded").start()
    services = []
    try:
        api = requests.Session()
        secret = server.token("admin", "berth-admin")
        api.headers["Authorization"] = f"Token {secret}"
        repo = git_repo(Path(tempfile.mkdtemp(prefix="berth-bench-repo-")))  # not Berth's data
        registry_host = os.environ["BERTH_REGISTRY_URL"].split("://", 1)[1]
        direct_work(repo, registry_host)  # warm the build cache both sides use
        berths, floors, cpus, berth_steps, floor_steps = [], [], [], [], []
        for number in range(1, FULL_RUNS + 1):  # interleaved, so load drifts hit both
            services.append(new_service(server, api))
            cpu_before = cpu_ms(server.processes[0].pid)
            total, approving, digest, steps = berth_full_run(
                server, api, secret, repo, services[-1], "full", show=number == FULL_RUNS
            )
            berths.append(total - approving)
            berth_steps.append(steps)
            cpus.append(cpu_ms(server.processes[0].pid) - cpu_before)
            # Its replicas' health checks would load the runs after it (the direct work
            # removes its containers too).
            remove_service_containers(os.environ["DOCKER_HOST"], services[-1])
            elapsed, steps = direct_work(repo, registry_host)
            floors.append(elapsed)
            floor_steps.append(steps)
            print(f"  run {number}: Berth {berths[-1]:.2f} s, docker SDK {floors[-1]:.2f} s  (Berth: "
                  + ", ".join(f"{name} {value:.2f}" for name, value in berth_steps[-1].items()) + ")")  # fmt: skip
        berth, floor = statistics.median(berths), statistics.median(floors)
        overhead = (berth - floor) / floor * 100
        latencies = approval_latency(server, api, services[-1], digest)
    finally:
        server.stop()
        # The replicas it deployed would otherwise keep running health checks, loading
        # the machine for whatever is measured next.
        for service in services:
            remove_service_containers(os.environ["DOCKER_HOST"], service)
    load = os.getloadavg()
    p50 = percentile(latencies, 0.5)
    print(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")
    print(
        f"Full run (build, deploy Dev, deploy Test, test, approval, promote), median of {FULL_RUNS}:"
    )
    print(f"  Berth, minus the time the approval waited: {berth:.2f} s")
    print(f"  the same work with the docker SDK:        {floor:.2f} s")
    print(
        f"  Berth's server CPU per run: {statistics.median(cpus):.0f} ms (median; includes following the run on its websocket)"
    )
    print_steps(berth, floor, berth_steps, floor_steps)
    print(
        f"  Berth's overhead: {overhead:+.1f} %  (target <= 5 %: {'met' if overhead <= 5 else 'missed'})"
    )
    print(f"Approval click to next stage start over {len(latencies)} runs: p50 {p50 * 1000:.0f} ms, "
          f"max {max(latencies) * 1000:.0f} ms  (target p50 <= 1 s: {'met' if p50 <= 1 else 'missed'})")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
