"""Traffic benchmark: failed requests during each deployment strategy behind Berth's
entry point, the latency the proxy adds, and start-first against stop-first deploy time.

Against the real stack (scripts/stack.sh): a private SQLite database and a private
HAProxy (temporary directories), the real Docker Engine and registry. A client sends
GETs to the entry point at --rate requests a second (loopback only) while each
deployment runs; every answer names the version (v1, v2) that served it. Deployments
run in this process through Berth's runner (the same code a worker runs), alternating
the stack's image and a variant of it, busybox httpd replicas with an HTTP health check
every 0.5 s and a 1 s stop grace period.

Printed: for each strategy, failed requests out of N (target 0) and how often the
answering version changed (once for one replica and blue-green; with several replicas
rolling one at a time, round robin alternates old and new until the last old one goes);
"stop-first rolling" is today's behaviour before this change (max_surge 0), measured
behind the same proxy for comparison; then the proxy's added latency (p50, p99 of
sequential GETs through the entry point against the replica's own port), and the deploy
time of start-first against stop-first rolling (one replica).

Run: ``.venv/bin/python tests/benchmarks/bench_traffic.py`` or ``make bench``.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
import uuid

from _common import ROOT, percentile, stack_ready

ROUNDS = {
    "start-first rolling, 1 replica": (1, {"type": "rolling"}),
    "start-first rolling, 3 replicas": (3, {"type": "rolling"}),
    "blue-green, 2 replicas": (2, {"type": "blue-green", "keep_old_for": 0}),
    "stop-first rolling, 1 replica (before)": (
        1,
        {"type": "rolling", "max_surge": 0, "max_unavailable": 1},
    ),  # fmt: skip
}


def free_base(replicas: int) -> int:
    """A base port whose blue and green replica ports are all free now (other work on
    this host binds ports in the same range)."""
    import socket

    while True:
        base = random.randrange(20000, 40000, 200)
        try:
            for port in [base + o + s for o in (0, 100) for s in range(replicas)]:
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--latency-requests", type=int, default=2000)
    args = parser.parse_args()
    registry_url = stack_ready()
    data = tempfile.mkdtemp(prefix="berth-bench-traffic-")
    proxy_dir = tempfile.mkdtemp(prefix="bpx-", dir="/tmp")
    os.environ.update(
        BERTH_DATA_DIR=data, BERTH_PROXY_DIR=proxy_dir, DJANGO_SETTINGS_MODULE="portal.settings",
        BERTH_EMBEDDED_WORKER="false",
    )  # fmt: skip
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from environments import actions
    from environments.deploying import runner, traffic
    from environments.models import EntryPoint, Environment, Service
    from environments.roles import Tier
    from registry.client import RegistryClient
    from registry.models import Registry
    from tests.registries import image_variant
    from tests.stack import free_port
    from tests.traffic_client import Load

    call_command("migrate", verbosity=0)
    admin = get_user_model().objects.create_superuser("bench", "bench@example.com", "x" * 20)
    registry = Registry.objects.create(name="local", url=registry_url, verify_tls=False)
    dev: Environment = actions.create_environment(
        admin, name="Dev", slug="dev", position=10, tier=Tier.DEVELOPMENT, protected=False,
        endpoint_url=os.environ["DOCKER_HOST"], allow_host_network=True, registry=registry,
    )  # fmt: skip
    client = RegistryClient(registry_url)
    v1 = client.resolve("demo/app", "latest")
    v2 = image_variant(client, "demo/app", v1, "bench-traffic-v2").digest
    command = [
        "sh", "-c",
        "busybox mkdir -p /www && echo ok > /www/health && echo $VERSION > /www/index.html"
        " && exec httpd -f -p 127.0.0.1:$PORT -h /www",
    ]  # fmt: skip

    def deploy(service, digest, version):
        document = dict(service.current_config(dev).document)
        document["env"] = {"VERSION": version}
        actions.save_config(admin, service, dev, document)
        deployment = actions.deploy(service, dev, digest, user=admin)
        runner.run_deployment(deployment.pk)
        deployment.refresh_from_db()
        if deployment.status != "succeeded":
            raise SystemExit(f"deployment failed: {deployment.reason}")
        return (deployment.finished_at - deployment.started_at).total_seconds()

    services = []
    results = {}
    try:
        for label, (replicas, strategy) in ROUNDS.items():
            service = Service.objects.create(
                name=f"bt{uuid.uuid4().hex[:6]}", registry=registry, repository="demo/app"
            )
            services.append(service)
            actions.save_config(admin, service, dev, {
                "replicas": replicas, "command": command, "env": {"VERSION": "v1"},
                "port": free_base(replicas),
                "health_check": {"http_path": "/health", "interval": 0.5, "timeout": 1, "retries": 2},
                "strategy": strategy, "stop_grace_period": 1,
                "entry_points": [{"port": free_port()}],
            })  # fmt: skip
            deploy(service, v1, "v1")
            url = f"http://127.0.0.1:{EntryPoint.objects.get(service=service).port}/"
            with Load(url, rate=args.rate) as load:
                time.sleep(0.5)
                seconds = deploy(service, v2, "v2")
                time.sleep(0.5)
            results[label] = (load, seconds, service)

        # Added latency: sequential GETs through the entry point and to the replica.
        load, _, service = results["start-first rolling, 1 replica"]
        entry = EntryPoint.objects.get(service=service).port
        replica = traffic.ProxyServer.objects.get(service=service).port
        through = Load(f"http://127.0.0.1:{entry}/")
        direct = Load(f"http://127.0.0.1:{replica}/")
        proxied, straight = [], []
        for _ in range(args.latency_requests):  # interleaved: load hits both alike
            proxied.append(through.get().latency * 1000)
            straight.append(direct.get().latency * 1000)
    finally:
        traffic.proxy_process().stop()
        import docker

        engine = docker.DockerClient(base_url=os.environ["DOCKER_HOST"], version="auto")
        for service in services:
            for container in engine.containers.list(
                all=True, filters={"label": f"berth.service={service.name}"}
            ):
                container.remove(force=True)
        engine.close()
        shutil.rmtree(data, ignore_errors=True)
        shutil.rmtree(proxy_dir, ignore_errors=True)

    print(
        f"bench_traffic: load {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs"
    )
    print(f"\nFailed requests during a deployment at {args.rate:g} req/s (Berth target: 0)")
    for label, (load, seconds, _) in results.items():
        failed = len(load.failures)
        target = "" if "before" in label else ("  met" if failed == 0 else "  missed")
        seen = load.versions()
        print(
            f"  {label:42s} {failed:5d} of {len(load.results):5d} failed  "
            f"{'→'.join(dict.fromkeys(seen))}, {len(seen) - 1} switch(es){target}"
        )
    print(f"\nProxy latency, {args.latency_requests} sequential GETs each (ms)")
    for name, values in (("through the entry point", proxied), ("replica directly", straight)):
        print(
            f"  {name:26s} p50 {percentile(values, 0.5):6.2f}  p99 {percentile(values, 0.99):6.2f}"
        )
    print(
        f"  added by the proxy          p50 {percentile(proxied, 0.5) - percentile(straight, 0.5):6.2f}"
        f"  p99 {percentile(proxied, 0.99) - percentile(straight, 0.99):6.2f}"
    )
    start_first = results["start-first rolling, 1 replica"][1]
    stop_first = results["stop-first rolling, 1 replica (before)"][1]
    print("\nDeploy time, one replica (started → finished)")
    print(f"  start-first rolling {start_first:6.2f} s")
    print(f"  stop-first rolling  {stop_first:6.2f} s  (before)")


if __name__ == "__main__":
    main()
