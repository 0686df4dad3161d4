"""Promotion benchmark: Berth's retag-by-digest against the pull/tag/push way.

Promotes one ~200 MB image (a single layer of random bytes, so it does not compress)
from Test to Ops in two ways, against the real stack (scripts/stack.sh):

A. Berth: the whole ``POST /api/promotions/`` request to a real server (``manage.py
   serve``), which checks the deployment evidence (the image is first deployed to Test
   through Berth, as a tester would) and writes the Ops tags as registry manifests. Each run signs the
   same digest off with a new version: Ops's moving tag (qa-passed) already points at
   it after the first run, so Berth writes only the version tag; and the first sign-off
   is the evidence of the later ones (it checked the deployment). The requests go on
   one kept-alive ``http.client`` connection (with requests, add about 0.6 ms of the
   client's own CPU to each).
A2. Berth again, with the moving tag moved to another digest before each run (untimed):
   both tags are written, as when a new digest is signed off.
B. The usual operator way: ``docker pull``, ``docker tag``, ``docker push``, ``docker
   rmi``, each run starting from an engine without the image.
C. The floor: the two registry round trips a retag cannot do without (GET the manifest by
   digest, PUT it under a tag), in this process with one client, as many times as A.
D. The registry calls of A alone, in A's order, in this process: the manifest read by
   digest (in A it runs beside the permission and evidence queries, before the tags'
   locks), then both tags' current digests at once (in A under the locks), then the
   version tag's PUT. D2: the same for A2, with the two PUTs one after the other
   (moving tag first). What A adds to D is Berth's own time: HTTP, authentication,
   permissions, evidence, records.

Targets: Berth p50 at most 15 ms on loopback, printed beside the floors C and D; at least
40x faster than B. The server's CPU time per promotion is printed too (less sensitive to
the machine's load than wall time; it includes the server's idle background work, the
embedded worker's polling, during the runs), and the load average before and after.

Bytes are the loopback (``lo``) receive counter of /proc/net/dev around the timed runs,
divided by the number of runs. Everything here is on loopback, so that is the traffic
of the operation, plus the HTTP request to Berth itself in A, plus whatever else
happens to talk over loopback meanwhile.

Run: ``.venv/bin/python tests/benchmarks/bench_promotion.py`` or ``make bench``.
Without DOCKER_HOST and BERTH_REGISTRY_URL in the environment, the stack's stack.env
is read. Nothing is pulled from outside the local registry.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import shutil
import statistics
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import docker
import requests
from _common import cpu_ms, percentile, run_docker, stack_ready

if TYPE_CHECKING:
    from registry.client import Manifest, RegistryClient

REPOSITORY = "bench/big"
PAYLOAD_MB = 200
MB = 1_000_000
TARGET_P50_MS = 15


def lo_rx_bytes() -> int:
    for line in Path("/proc/net/dev").read_text().splitlines():
        name, _, counters = line.partition(":")
        if name.strip() == "lo":
            return int(counters.split()[0])
    raise RuntimeError("no lo interface in /proc/net/dev")


# --- the image ---------------------------------------------------------------------------


def build_and_push(registry: RegistryClient, reference: str, workdir: Path) -> None:
    """A rootfs of busybox plus PAYLOAD_MB of random bytes, imported and pushed."""
    print(f"building {reference} ({PAYLOAD_MB} MB of random bytes + busybox), no pull")
    rootfs = workdir / "rootfs.tar"
    payload = workdir / "payload.bin"
    with payload.open("wb") as out:
        for _ in range(PAYLOAD_MB):
            out.write(os.urandom(1 << 20))
    with tarfile.open(rootfs, "w") as tar:
        tar.add("/bin/busybox", arcname="bin/busybox")
        for applet in ("sh", "sleep"):
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type = tarfile.SYMTYPE
            link.linkname = "busybox"
            tar.addfile(link)
        tar.add(payload, arcname="payload/random.bin")
    payload.unlink()
    run_docker("import", "--change", 'CMD ["sleep", "3600"]', str(rootfs), reference)
    rootfs.unlink()
    run_docker("push", reference)


def local_images(client: docker.DockerClient, registry: RegistryClient, config_digest: str) -> list:
    prefix = f"{registry.host}/{REPOSITORY}"
    found = []
    for image in client.images.list(all=True):
        names = image.attrs.get("RepoTags") or []
        names += image.attrs.get("RepoDigests") or []
        if image.id == config_digest or any(
            name.startswith((f"{prefix}:", f"{prefix}@")) for name in names
        ):
            found.append(image)
    return found


def remove_local_images(client: docker.DockerClient, registry: RegistryClient, config: str) -> int:
    images = local_images(client, registry, config)
    for image in images:
        client.images.remove(image.id, force=True)
    return len(images)


# --- B: docker pull / tag / push / rmi ---------------------------------------------------


def bench_docker(
    client: docker.DockerClient, registry: RegistryClient, config: str, runs: int, warmups: int
) -> dict:
    source = f"{registry.host}/{REPOSITORY}:latest"
    times: list[float] = []
    steps: dict[str, list[float]] = {"pull": [], "tag": [], "push": [], "rmi": []}
    leftovers = 0
    total_bytes = 0
    remove_local_images(client, registry, config)  # e.g. the image just built and pushed
    for run in range(warmups + runs):
        leftovers += remove_local_images(client, registry, config)
        if local_images(client, registry, config):
            raise RuntimeError("the image is still present locally before a docker run")
        target = f"{registry.host}/{REPOSITORY}:promoted-{run}"
        commands = {
            "pull": ("pull", "--quiet", source),
            "tag": ("tag", source, target),
            "push": ("push", "--quiet", target),
            "rmi": ("rmi", source, target),
        }
        rx_before = lo_rx_bytes()
        started = time.perf_counter()
        took = {}
        for step, argv in commands.items():
            step_started = time.perf_counter()
            run_docker(*argv)
            took[step] = time.perf_counter() - step_started
        elapsed = time.perf_counter() - started
        rx = lo_rx_bytes() - rx_before
        if run < warmups:
            continue
        times.append(elapsed)
        total_bytes += rx
        for step, seconds in took.items():
            steps[step].append(seconds)
        print(f"  docker run {run - warmups + 1}/{runs}: {elapsed * 1000:.0f} ms, {rx / MB:.1f} MB")
    leftovers += remove_local_images(client, registry, config)
    return {"times": times, "bytes": total_bytes / runs, "steps": steps, "leftovers": leftovers}


# --- A: Berth ----------------------------------------------------------------------------


def deploy_to_test(server, digest: str) -> str:
    """Deploy the image to Test through Berth, as a tester would before signing off: the
    deployment record is what lets the digest leave Test."""
    session = requests.Session()
    session.headers["Authorization"] = f"Token {server.token('qa', 'berth-qa')}"
    name = f"bench-{secrets.token_hex(3)}"
    created = session.post(
        f"{server.url}/api/services/",
        json={"name": name, "registry": "local", "repository": REPOSITORY},
        timeout=10,
    )
    created.raise_for_status()
    document = {"replicas": 1, "command": ["sleep", "3600"], "network_mode": "none",
                "strategy": {"type": "recreate"}}  # fmt: skip
    saved = session.post(
        f"{server.url}/api/services/{created.json()['id']}/configs/",
        json={"environment": "test", "document": document},
        timeout=10,
    )
    saved.raise_for_status()
    deployed = session.post(
        f"{server.url}/api/deployments/",
        json={"service": name, "environment": "test", "digest": digest},
        timeout=10,
    )
    deployed.raise_for_status()
    url = f"{server.url}/api/deployments/{deployed.json()['id']}/"
    deadline = time.monotonic() + 300
    while (status := session.get(url, timeout=10).json()["status"]) in ("pending", "running"):
        if time.monotonic() > deadline:
            raise RuntimeError("the deployment to Test did not finish")
        time.sleep(0.5)
    if status != "succeeded":
        raise RuntimeError(
            f"the deployment to Test {status}: {session.get(url, timeout=10).json()['reason']}"
        )
    print(f"A: deployed {REPOSITORY}@{digest[:19]}... to Test through Berth ({name})")
    return name


def bench_berth(server, digest: str, runs: int, warmups: int, before_each=None) -> dict:
    session = requests.Session()
    session.headers["Authorization"] = f"Token {server.token('qa', 'berth-qa')}"
    response = session.get(f"{server.url}/api/environments/", timeout=10)
    response.raise_for_status()
    body = response.json()
    environments = body["results"] if isinstance(body, dict) else body
    test_id = next(env["id"] for env in environments if env["slug"] == "test")
    salt = secrets.token_hex(3)
    # The timed requests go on one kept-alive http.client connection: requests would add
    # about 0.6 ms of client CPU to each (measured against a bare ASGI app), which is
    # the client's time, not Berth's.
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    headers = {
        "Authorization": session.headers["Authorization"],
        "Content-Type": "application/json",
        "Accept": "application/json",
    }
    times: list[float] = []
    rx, cpu = 0, 0.0
    for run in range(warmups + runs):
        if before_each is not None:
            before_each()
        payload = {
            "source_environment": test_id,
            "repository": REPOSITORY,
            "digest": digest,
            "version": f"1.{run}.{salt}",
        }
        rx_before, cpu_before = lo_rx_bytes(), cpu_ms(server.processes[0].pid)
        body = json.dumps(payload).encode()
        started = time.perf_counter()
        connection.request("POST", "/api/promotions/", body=body, headers=headers)
        response = connection.getresponse()
        answer = response.read()
        elapsed = time.perf_counter() - started
        if run >= warmups:
            rx += lo_rx_bytes() - rx_before
            cpu += cpu_ms(server.processes[0].pid) - cpu_before
        if response.status != 201 or json.loads(answer).get("status") != "succeeded":
            raise RuntimeError(f"promotion {run} answered {response.status}: {answer[:2000]!r}")
        if run >= warmups:
            times.append(elapsed)
    last = json.loads(answer)
    connection.close()
    session.close()
    return {"times": times, "bytes": rx / runs, "last": last, "cpu_ms": cpu / runs}


# --- C: the floor ------------------------------------------------------------------------


def bench_floor(registry: RegistryClient, digest: str, runs: int, warmups: int) -> dict:
    """GET the manifest by digest and PUT it under a scratch tag: a retag's two round trips."""
    times: list[float] = []
    for run in range(warmups + runs):
        started = time.perf_counter()
        manifest = registry.get_manifest(REPOSITORY, digest)
        registry.put_manifest(REPOSITORY, "bench-floor", manifest)
        if run >= warmups:
            times.append(time.perf_counter() - started)
    return {"times": times, "bytes": 0}


def bench_registry_calls(
    registry: RegistryClient, digest: str, runs: int, warmups: int, moved: Manifest | None = None
) -> dict:
    """D: the registry calls of a two-tag promotion, in A's order, without Berth: the
    manifest by digest, both tags' digests at once, then the PUT of every tag not yet at
    the digest (the version tag; with ``moved``, the moving tag is first set to that
    other manifest, untimed, so both are written, the moving tag first)."""
    from concurrent.futures import ThreadPoolExecutor

    times: list[float] = []
    salt = secrets.token_hex(3)
    with ThreadPoolExecutor(max_workers=2) as pool:
        for run in range(warmups + runs):
            version = f"floor-{salt}-{run}"
            if moved is not None:
                registry.put_manifest(REPOSITORY, "bench-floor", moved)
            started = time.perf_counter()
            manifest = registry.get_manifest(REPOSITORY, digest)
            current = pool.submit(registry.resolve, REPOSITORY, "bench-floor")
            registry.resolve(REPOSITORY, version)
            if current.result() != digest:
                registry.put_manifest(REPOSITORY, "bench-floor", manifest)
            registry.put_manifest(REPOSITORY, version, manifest)
            if run >= warmups:
                times.append(time.perf_counter() - started)
    return {"times": times, "bytes": 0}


# --- report ------------------------------------------------------------------------------


def report(
    image: dict,
    berth: dict,
    docker_way: dict,
    floor: dict,
    calls: dict,
    berth_both: dict,
    calls_both: dict,
) -> None:
    def row(name: str, result: dict) -> str:
        times = [t * 1000 for t in result["times"]]
        return (
            f"{name:<34} {len(times):>4} {statistics.median(times):>10.1f} "
            f"{percentile(times, 0.99):>10.1f} {result['bytes'] / MB:>10.3f}"
        )

    berth_p50 = statistics.median(berth["times"]) * 1000
    docker_p50 = statistics.median(docker_way["times"]) * 1000
    ratio = docker_p50 / berth_p50
    print()
    print(f"image   {image['reference']}")
    print(f"digest  {image['digest']}")
    print(
        f"size    {image['size'] / MB:.1f} MB in the registry ({image['layers']} layer(s), "
        f"compressed), {image['unpacked'] / MB:.1f} MB unpacked"
    )
    print()
    print(f"{'promotion Test -> Ops':<34} {'runs':>4} {'p50 ms':>10} {'p99 ms':>10} {'MB/op':>10}")
    print(row("A  Berth POST /api/promotions/", berth))
    print(row("A2 Berth, both tags written", berth_both))
    print(row("B  docker pull+tag+push+rmi", docker_way))
    print(row("C  floor: registry GET+PUT", floor))
    print(row("D  floor: Berth's registry calls", calls))
    print(row("D2 the same, both tags written", calls_both))
    steps = ", ".join(
        f"{step} {statistics.median(values) * 1000:.0f}"
        for step, values in docker_way["steps"].items()
    )
    print(f"  docker p50 by step (ms): {steps}")
    print()
    print(f"docker p50 / Berth p50 = {ratio:.0f}x")
    floor_p50 = statistics.median(floor["times"]) * 1000
    print(
        f"target Berth p50 <= {TARGET_P50_MS} ms: "
        f"{'met' if berth_p50 <= TARGET_P50_MS else 'MISSED'} ({berth_p50:.1f} ms; "
        f"floor, registry GET+PUT: {floor_p50:.1f} ms)"
    )
    for name, berth_run, calls_run in (("A ", berth, calls), ("A2", berth_both, calls_both)):
        p50 = statistics.median(berth_run["times"]) * 1000
        calls_p50 = statistics.median(calls_run["times"]) * 1000
        print(
            f"  {name}: Berth's own time (p50 minus its registry calls' p50): "
            f"{p50 - calls_p50:.1f} ms; server CPU per promotion {berth_run['cpu_ms']:.1f} ms"
        )
    both_p50 = statistics.median(berth_both["times"]) * 1000
    print(
        f"target Berth p50 <= {TARGET_P50_MS} ms with both tags written (A2): "
        f"{'met' if both_p50 <= TARGET_P50_MS else 'MISSED'} ({both_p50:.1f} ms)"
    )
    print(f"target >= 40x faster than docker: {'met' if ratio >= 40 else 'MISSED'} ({ratio:.0f}x)")
    print(
        "MB/op is loopback rx (/proc/net/dev lo) per run; Berth's includes its own HTTP "
        "request and response."
    )
    if docker_way["leftovers"]:
        print(f"note: {docker_way['leftovers']} local image(s) survived a docker run's rmi")
    for name, run in (("A", berth), ("A2", berth_both)):
        print(f"last {name} log: {[step['message'] for step in run['last'].get('log', [])]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--berth-runs", type=int, default=30)
    parser.add_argument("--docker-runs", type=int, default=10)
    args = parser.parse_args()

    registry_url = stack_ready()
    from registry.client import RegistryClient
    from tests.registries import push_image
    from tests.servers import PortalServer

    registry = RegistryClient(registry_url)
    source = f"{registry.host}/{REPOSITORY}:latest"
    client = docker.DockerClient(base_url=os.environ["DOCKER_HOST"], version="auto", timeout=300)
    workdir = Path(tempfile.mkdtemp(prefix="berth-bench-"))
    server = None
    service = ""
    config = ""
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    try:
        digest = registry.resolve(REPOSITORY, "latest")
        if digest is None:
            build_and_push(registry, source, workdir)
            digest = registry.resolve(REPOSITORY, "latest")
        else:
            print(f"reusing {source} from the registry")
        manifest = registry.get_manifest(REPOSITORY, digest).document
        config = manifest["config"]["digest"]
        image = {
            "reference": f"{registry.host}/{REPOSITORY}@{digest}",
            "digest": digest,
            "layers": len(manifest["layers"]),
            "size": manifest["config"]["size"] + sum(layer["size"] for layer in manifest["layers"]),
        }

        print(f"B: docker way, {args.docker_runs} runs + 1 warm-up, each from a clean engine")
        docker_way = bench_docker(client, registry, config, args.docker_runs, warmups=1)

        print("A: Berth, starting the server (migrate + seed_demo)")
        server = PortalServer(workdir, "embedded").start()
        run_docker("pull", "--quiet", image["reference"])
        image["unpacked"] = client.images.get(image["reference"]).attrs["Size"]
        service = deploy_to_test(server, digest)
        print(f"A: Berth, {args.berth_runs} promotions + 2 warm-ups")
        berth = bench_berth(server, digest, args.berth_runs, warmups=2)
        print(f"A2: Berth, {args.berth_runs} promotions + 2 warm-ups, the moving tag moved first")
        other = push_image(registry, REPOSITORY, layers=[os.urandom(64)])
        berth_both = bench_berth(
            server,
            digest,
            args.berth_runs,
            warmups=2,
            before_each=lambda: registry.put_manifest(REPOSITORY, "qa-passed", other),
        )
        print(f"C: the floor, registry GET+PUT, {args.berth_runs} runs + 2 warm-ups")
        floor = bench_floor(registry, digest, args.berth_runs, warmups=2)
        print(f"D: Berth's registry calls alone, {args.berth_runs} runs + 2 warm-ups")
        calls = bench_registry_calls(registry, digest, args.berth_runs, warmups=2)
        print(f"D2: the same with both tags written, {args.berth_runs} runs + 2 warm-ups")
        calls_both = bench_registry_calls(registry, digest, args.berth_runs, warmups=2, moved=other)

        report(image, berth, docker_way, floor, calls, berth_both, calls_both)
        others = [
            c.name for c in client.containers.list() if c.labels.get("berth.service") != service
        ]
        print(
            f"context: load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after, "
            f"on {os.cpu_count()} CPUs, {len(others)} other running container(s) on the engine"
        )
        print(f"total {time.monotonic() - started:.0f} s")
    except Exception:
        if server is not None:
            print(server.logs(), file=sys.stderr)
        raise
    finally:
        if service:
            for leftover in client.containers.list(
                all=True, filters={"label": f"berth.service={service}"}
            ):
                leftover.remove(force=True)
        if server is not None:
            server.stop()
        remove_local_images(client, registry, config)
        client.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
