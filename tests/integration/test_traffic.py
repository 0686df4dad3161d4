"""Entry points and zero-downtime deploys on real containers behind the real HAProxy:
a client sends ~200 requests a second (loopback, bounded) to the entry point while a
deployment runs, and every request must succeed, each answer naming the version that
served it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import docker
import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.urls import reverse

from environments import actions, engine
from environments.deploying import traffic
from environments.deploying.runner import run_deployment
from environments.models import Deployment, EntryPoint, ProxyServer, Service
from portal.core.tasks import doing_it_here
from tests import stack
from tests.integration.conftest import owned, wait_finished
from tests.traffic_client import Load

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

VERSIONED_HTTP = [
    "sh",
    "-c",
    "busybox mkdir -p /www && echo ok > /www/health && echo $VERSION > /www/index.html"
    " && exec httpd -f -p 127.0.0.1:$PORT -h /www",
]


@pytest.fixture
def proxy_dir(settings):
    """A private proxy for the test (a short path: unix socket names are limited)."""
    path = tempfile.mkdtemp(prefix="bpx-", dir="/tmp")
    settings.PROXY_DIR = path
    settings.PROXY_MODE = "embedded"
    settings.PROXY_WAIT = 15
    yield path
    traffic.proxy_process().stop()
    shutil.rmtree(path, ignore_errors=True)


def _free_port() -> int:
    return stack.free_port()


@pytest.fixture
def make_service(demo_registry, environments, personas, proxy_dir):
    """``make_service(replicas, strategy)``: a service with one entry point, replicas
    answering their VERSION; its containers are removed afterwards."""
    made = []

    def make(replicas: int = 1, strategy: dict | None = None, **extra) -> Service:
        service = Service.objects.create(
            name=f"tr{uuid.uuid4().hex[:6]}", registry=demo_registry, repository="demo/app"
        )
        made.append(service)
        document = {
            "replicas": replicas,
            "command": VERSIONED_HTTP,
            "env": {"VERSION": "v1"},
            "port": stack.free_port_base(),
            "health_check": {"http_path": "/health", "interval": 0.5, "timeout": 1, "retries": 2},
            "strategy": strategy or {"type": "rolling"},
            "stop_grace_period": 1,  # busybox httpd as PID 1 ignores SIGTERM
            "entry_points": [{"port": _free_port()}],
            **extra,
        }
        actions.save_config(personas["developer"], service, environments["dev"], document)
        return service

    yield make
    client = docker.DockerClient(base_url=environments["dev"].endpoint_url, version="auto")
    for service in made:
        for container in client.containers.list(
            all=True, filters={"label": f"{engine.LABEL_SERVICE}={service.name}"}
        ):
            container.remove(force=True)
    client.close()


def _url(service, environment) -> str:
    entry = EntryPoint.objects.get(service=service, environment=environment)
    return f"http://127.0.0.1:{entry.port}/"


def _deploy(api, service, digest) -> Deployment:
    response = api.post(
        reverse("deployment-list"),
        {"service": service.name, "environment": "dev", "digest": digest},
        format="json",
    )
    assert response.status_code == 202, response.data
    return Deployment.objects.get(pk=response.data["id"])


def _succeeded(deployment: Deployment) -> Deployment:
    deployment = wait_finished(deployment)
    assert deployment.status == "succeeded", deployment.reason
    return deployment


def _set_version(service, environment, personas, version: str, **changes):
    document = dict(service.current_config(environment).document, **changes)
    document["env"] = dict(document["env"], VERSION=version)
    return actions.save_config(personas["developer"], service, environment, document)


def _answers(url: str, timeout: float = 10) -> str:
    """Wait until the entry point answers, and return what it says."""
    deadline = time.monotonic() + timeout
    load = Load(url)
    while True:
        result = load.get()
        if result.ok or time.monotonic() > deadline:
            return result.body
        time.sleep(0.1)


def _assert_no_failure(load: Load) -> None:
    failures = load.failures
    assert not failures, f"{len(failures)} of {len(load.results)} failed: {failures[:3]}"
    assert len(load.results) > 50, "the client hardly ran"


@pytest.mark.parametrize("replicas", [1, 3])
def test_rolling_start_first_drops_no_request(
    replicas, make_service, versions, environments, personas, api_for, celery_worker_thread
):
    v1, v2 = versions
    dev = environments["dev"]
    service = make_service(replicas)
    api = api_for("developer")
    _succeeded(_deploy(api, service, v1))
    url = _url(service, dev)
    assert _answers(url) == "v1"

    _set_version(service, dev, personas, "v2")
    with Load(url, rate=200) as load:
        deployment = _succeeded(_deploy(api, service, v2))
        time.sleep(0.5)
    _assert_no_failure(load)
    seen = load.versions()
    if replicas == 1:
        assert seen == ["v1", "v2"], seen  # switching exactly once
    else:  # while replicas are replaced one by one both answer, then only v2
        assert seen[0] == "v1" and seen[-1] == "v2" and set(seen) == {"v1", "v2"}, seen
    messages = [e.message for e in deployment.events.order_by("seq")]
    assert any("added to the entry point" in m for m in messages), messages
    assert any(m.startswith("Draining replica") for m in messages), messages
    first_start = next(i for i, m in enumerate(messages) if m.startswith("Starting replica 1"))
    first_stop = next(i for i, m in enumerate(messages) if m.startswith("Stopping old replica 1"))
    assert first_start < first_stop, "start-first: the new replica starts before the old stops"
    rows = ProxyServer.objects.filter(service=service, environment=dev)
    assert rows.count() == replicas and {r.deployment_id for r in rows} == {deployment.pk}


def test_a_failing_health_check_during_rolling_leaves_the_old_replicas_serving(
    make_service, versions, environments, personas, api_for, celery_worker_thread
):
    v1, v2 = versions
    dev = environments["dev"]
    service = make_service(2)
    api = api_for("developer")
    first = _succeeded(_deploy(api, service, v1))
    url = _url(service, dev)
    assert _answers(url) == "v1"

    config = service.current_config(dev).document
    _set_version(
        service, dev, personas, "v2", health_check=dict(config["health_check"], http_path="/no")
    )
    with Load(url, rate=200) as load:
        failed = wait_finished(_deploy(api, service, v2))
        time.sleep(0.5)
    assert failed.status == "failed"
    _assert_no_failure(load)
    assert load.versions() == ["v1"]
    rows = ProxyServer.objects.filter(service=service, environment=dev)
    assert {r.deployment_id for r in rows} == {first.pk}
    assert {r.state for r in rows} == {"ready"}


def test_killing_the_proxy_mid_deploy_is_survived(
    make_service, versions, environments, personas, api_for, celery_worker_thread
):
    v1, v2 = versions
    dev = environments["dev"]
    service = make_service(2)
    api = api_for("developer")
    _succeeded(_deploy(api, service, v1))
    url = _url(service, dev)
    assert _answers(url) == "v1"
    process = traffic.proxy_process()
    killed_pid = process.pid()

    _set_version(service, dev, personas, "v2")
    deployment = _deploy(api, service, v2)

    def kill_when_draining() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if deployment.events.filter(message__startswith="Draining").exists():
                os.kill(process.pid(), signal.SIGKILL)
                return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_when_draining)
    killer.start()
    deployment = _succeeded(deployment)
    killer.join()
    # The deployment restarted the proxy from Berth's records and carried on.
    assert process.pid() not in (None, killed_pid)
    assert _answers(url) == "v2"
    stats = {s.name: s for s in process.runtime.stats()}
    rows = ProxyServer.objects.filter(service=service, environment=dev)
    assert set(stats) == {r.name for r in rows}, (stats, list(rows))


def test_an_entry_point_claimed_by_another_service_is_refused_naming_it(
    make_service, environments, personas
):
    first = make_service(1)
    second = make_service(1)
    taken = EntryPoint.objects.get(service=first).port
    document = dict(second.current_config(environments["dev"]).document)
    document["entry_points"] = [{"port": taken}]
    with pytest.raises(Exception) as refused:
        actions.save_config(personas["developer"], second, environments["dev"], document)
    assert f"Port {taken} is already the entry point of {first.name} in Dev" in str(refused.value)
    document["entry_points"] = [{"port": _free_port(), "host": "shop.example.com"}]
    actions.save_config(personas["developer"], second, environments["dev"], document)
    other = dict(first.current_config(environments["dev"]).document)
    other["entry_points"] = [{"port": _free_port(), "host": "shop.example.com"}]
    with pytest.raises(Exception) as refused:
        actions.save_config(personas["developer"], first, environments["dev"], other)
    assert f"The host name shop.example.com is already the entry point of {second.name}" in str(
        refused.value
    )


def test_a_port_serves_one_environment_and_an_owner_out_of_sight_stays_unnamed(
    make_service, demo_registry, environments, personas
):
    """A host-named route (or a default one) on a port another environment serves would
    take that environment's traffic through the shared proxy: refused, naming the owner
    only to someone who may see its environment."""
    first = make_service(1)  # Dev, the default route of its port
    taken = EntryPoint.objects.get(service=first).port
    test = environments["test"]
    document = dict(first.current_config(environments["dev"]).document)
    document["port"] = stack.free_port_base()
    document["entry_points"] = [{"port": taken, "host": "shop.example.com"}]
    with pytest.raises(ValidationError) as refused:
        actions.save_config(personas["tester"], first, test, document)
    assert f"Port {taken} is already an entry point of {first.name} in Dev" in str(refused.value)
    assert not EntryPoint.objects.filter(environment=test).exists()

    hidden = Service.objects.create(name="shop", registry=demo_registry, repository="demo/app")
    ops_port = _free_port()
    ops_document = {"port": stack.free_port_base(), "entry_points": [{"port": ops_port, "host": "shop.internal"}]}  # fmt: skip
    actions.save_config(personas["operator"], hidden, environments["ops"], ops_document)
    for wanted in ({"port": ops_port}, {"port": _free_port(), "host": "shop.internal"}):
        document = dict(first.current_config(environments["dev"]).document)
        document["entry_points"] = [wanted]
        with pytest.raises(ValidationError) as refused:
            actions.save_config(personas["developer"], first, environments["dev"], document)
        message = str(refused.value)
        assert "a service in an environment you cannot see" in message, message
        assert "shop" not in message.replace("shop.internal", "") and "Ops" not in message
    assert traffic.render_config().count(f"fe_{ops_port}") == 1


def test_a_port_another_program_listens_on_is_refused(make_service, environments, personas):
    """The proxy could not start with it, and every entry point would stay down."""
    service = make_service(1)
    with socket.socket() as program:
        program.bind(("127.0.0.1", 0))
        program.listen()
        busy = program.getsockname()[1]
        document = dict(service.current_config(environments["dev"]).document)
        document["entry_points"] = [{"port": busy}]
        with pytest.raises(ValidationError) as refused:
            actions.save_config(personas["developer"], service, environments["dev"], document)
    assert f"Port {busy} is in use on the proxy's host by another program" in str(refused.value)
    assert EntryPoint.objects.get(service=service).port != busy


def test_an_entry_point_and_a_replica_never_share_a_port_whoever_holds_it(
    make_service, demo_registry, environments, personas
):
    """An entry point on a port some replica binds (blue, green or health check) would
    stop that service's next deployment with "address in use"; a base port whose replicas
    would bind an entry point's port likewise. Both are refused at save, in either order,
    the owner named only to someone who may see its environment."""
    hidden = Service.objects.create(name="vault", registry=demo_registry, repository="demo/app")
    base = stack.free_port_base()
    actions.save_config(personas["operator"], hidden, environments["ops"], {"port": base})
    service = make_service(1)
    for port in (base, base + 100):  # Ops' blue replica, and where its rolling starts the new one
        document = dict(service.current_config(environments["dev"]).document)
        document["entry_points"] = [{"port": port}]
        with pytest.raises(ValidationError) as refused:
            actions.save_config(personas["developer"], service, environments["dev"], document)
        message = str(refused.value)
        assert (
            f"Port {port} is bound by the replicas of a service in an environment you cannot see"
            in message
        )
        assert "vault" not in message and "Ops" not in message
    assert not EntryPoint.objects.filter(port__in=(base, base + 100)).exists()

    taken = EntryPoint.objects.get(service=service).port
    with pytest.raises(ValidationError) as refused:
        actions.save_config(personas["operator"], hidden, environments["ops"], {"port": taken})
    assert f"Port {taken} is an entry point of {service.name} in Dev" in str(refused.value)
    assert hidden.current_config(environments["ops"]).document["port"] == base


def test_a_row_the_proxy_cannot_take_is_left_out_and_the_rest_still_served(
    make_service, environments
):
    """Rows saved before hosts and paths were checked must not stop the proxy for
    everyone: they are left out of its configuration (and logged)."""
    service = make_service(1)
    EntryPoint.objects.create(
        service=service, environment=environments["dev"], port=_free_port(), host="bad host"
    )
    config = service.current_config(environments["dev"])
    config.document = dict(config.document, health_check=dict(config.document["health_check"], http_path="/a b"))  # fmt: skip
    config.save(update_fields=["document"])
    text = traffic.render_config()
    assert "bad host" not in text and "/a b" not in text
    assert f"fe_{EntryPoint.objects.get(service=service, host='').port}" in text


def _blue_green_serving(make_service, api_for, dev, digest):
    """A two-replica blue-green service that keeps the old colour 120 s, deployed by the
    developer: (service, their API client, its entry point's URL)."""
    service = make_service(2, {"type": "blue-green", "keep_old_for": 120})
    api = api_for("developer")
    _succeeded(_deploy(api, service, digest))
    return service, api, _url(service, dev)


def test_blue_green_switches_once_and_switches_back_while_the_old_colour_is_kept(
    make_service, versions, environments, personas, api_for, celery_worker_thread
):
    v1, v2 = versions
    dev = environments["dev"]
    service, api, url = _blue_green_serving(make_service, api_for, dev, v1)
    assert _answers(url) == "v1"

    _set_version(service, dev, personas, "v2")
    with Load(url, rate=200) as load:
        deployment = _succeeded(_deploy(api, service, v2))
        time.sleep(0.5)
    _assert_no_failure(load)
    assert load.versions() == ["v1", "v2"]  # one switch, in one step
    kept = ProxyServer.objects.filter(service=service, environment=dev, state="maint")
    assert kept.count() == 2 and all(r.retire_after for r in kept)

    with Load(url, rate=200) as load:
        time.sleep(0.5)
        response = api.post(reverse("deployment-switch-back", args=[deployment.pk]))
        assert response.status_code == 200, response.data
        time.sleep(1)
    _assert_no_failure(load)
    assert load.versions() == ["v2", "v1"]
    deployment.refresh_from_db()
    assert deployment.status == "cancelled" and "switched back" in deployment.reason
    again = api.post(reverse("deployment-switch-back", args=[deployment.pk]))
    assert again.status_code == 400

    # The switched-away colour is retired (a task queued by the switch, and the periodic
    # one); v1 keeps serving.
    deadline = time.monotonic() + 30
    while ProxyServer.objects.filter(service=service, state="maint").exists():
        traffic.retire_standby()
        assert time.monotonic() < deadline
        time.sleep(0.2)
    running = [c for c in owned(dev, service) if c.status == "running"]
    assert len(running) == 2, [c.name for c in running]
    assert _answers(url) == "v1"
    assert set(ProxyServer.objects.filter(service=service).values_list("state", flat=True)) == {
        "ready"
    }


def test_a_deployment_right_after_a_switch_back_retires_the_switched_out_colour_first(
    make_service, versions, environments, personas, api_for, celery_worker_thread
):
    """The colour switched away from is retiring (a task, from the switch) on the ports
    the next deployment starts its colour on: the deployment waits for those replicas to
    be gone, whoever stops them, and no request fails."""
    v1, v2 = versions
    dev = environments["dev"]
    service, api, url = _blue_green_serving(make_service, api_for, dev, v1)
    _set_version(service, dev, personas, "v2")
    deployment = _succeeded(_deploy(api, service, v2))
    assert api.post(reverse("deployment-switch-back", args=[deployment.pk])).status_code == 200
    assert _answers(url) == "v1"

    # The switch queued the retirement, which the worker is now doing (stopping the
    # switched-out replicas takes seconds); this deployment runs here, meanwhile.
    time.sleep(0.3)  # the worker has taken the retirement up
    with Load(url, rate=200) as load:
        with doing_it_here():
            again = actions.deploy(service, dev, v2, user=personas["developer"])
        run_deployment(again.pk)
        again = _succeeded(again)
        time.sleep(0.5)
    _assert_no_failure(load)
    assert load.versions() == ["v1", "v2"]
    events = list(again.events.values_list("message", flat=True))
    assert not any("Address already in use" in e for e in events), events
    running = [c for c in owned(dev, service) if c.status == "running"]
    assert len(running) == 4, [c.name for c in running]  # v2 serving, v1 kept to switch back


def test_scale_up_and_down_touches_no_running_replica_and_drops_no_request(
    make_service, versions, environments, personas, api_for, celery_worker_thread
):
    v1, _ = versions
    dev = environments["dev"]
    service = make_service(1)
    api = api_for("developer")
    _succeeded(_deploy(api, service, v1))
    url = _url(service, dev)
    first = ProxyServer.objects.get(service=service).container_id
    for replicas in (3, 1):
        with Load(url, rate=200) as load:
            response = api.post(
                reverse("service-scale", args=[service.pk]),
                {"environment": "dev", "replicas": replicas},
                format="json",
            )
            assert response.status_code == 202, response.data
            scaled = _succeeded(Deployment.objects.get(pk=response.data["id"]))
            time.sleep(0.3)
        _assert_no_failure(load)
        assert scaled.strategy == "scale"
        rows = ProxyServer.objects.filter(service=service, environment=dev)
        assert rows.count() == replicas and first in {r.container_id for r in rows}


def test_rollback_behind_the_entry_point_drops_no_request(
    make_service, versions, environments, personas, api_for, celery_worker_thread
):
    v1, v2 = versions
    dev = environments["dev"]
    service = make_service(1)
    api = api_for("developer")
    _succeeded(_deploy(api, service, v1))
    _set_version(service, dev, personas, "v2")
    second = _succeeded(_deploy(api, service, v2))
    url = _url(service, dev)
    assert _answers(url) == "v2"
    with Load(url, rate=200) as load:
        response = api.post(reverse("deployment-rollback", args=[second.pk]), {}, format="json")
        assert response.status_code == 202, response.data
        _succeeded(Deployment.objects.get(pk=response.data["id"]))
        time.sleep(0.5)
    _assert_no_failure(load)
    assert load.versions() == ["v2", "v1"]


def test_a_replica_failing_its_health_check_after_joining_leaves_the_rotation_in_time(
    make_service, versions, environments, api_for, celery_worker_thread
):
    v1, _ = versions
    dev = environments["dev"]
    service = make_service(2)  # checked every 0.5 s, 2 failures make it unhealthy
    _succeeded(_deploy(api_for("developer"), service, v1))
    row = ProxyServer.objects.filter(service=service, environment=dev).order_by("slot").first()
    client = docker.DockerClient(base_url=dev.endpoint_url, version="auto")
    try:
        result = client.containers.get(row.container_id).exec_run(["busybox", "rm", "/www/health"])
        assert result.exit_code == 0, result.output
    finally:
        client.close()
    broke = time.monotonic()
    runtime = traffic.proxy_process().runtime
    while True:
        stat = next(s for s in runtime.stats() if s.name == row.name)
        if stat.status.startswith("DOWN"):
            break
        assert time.monotonic() - broke < 3, f"still {stat.status} after 3 s"
        time.sleep(0.1)
    state = traffic.entry_point_state(service, dev)[0]["backends"]
    assert {b["name"]: b["health"].split()[0] for b in state}[row.name] == "DOWN"


def test_a_new_entry_point_reloads_the_proxy_without_dropping_a_request(
    make_service, versions, environments, personas, api_for, celery_worker_thread
):
    v1, _ = versions
    dev = environments["dev"]
    service = make_service(1)
    _succeeded(_deploy(api_for("developer"), service, v1))
    url = _url(service, dev)
    assert _answers(url) == "v1"
    master = traffic.proxy_process().pid()
    added = _free_port()
    with Load(url, rate=200) as load:
        time.sleep(0.3)
        document = dict(service.current_config(dev).document)
        document["entry_points"] = [*document["entry_points"], {"port": added, "host": ""}]
        actions.save_config(personas["developer"], service, dev, document)  # reloads on commit
        assert _answers(f"http://127.0.0.1:{added}/") == "v1"
        time.sleep(0.3)
    _assert_no_failure(load)
    assert traffic.proxy_process().pid() == master  # the same master, new workers


def test_removing_the_last_entry_point_closes_its_port(
    make_service, versions, environments, personas, api_for, celery_worker_thread
):
    v1, _ = versions
    dev = environments["dev"]
    service = make_service(1)
    _succeeded(_deploy(api_for("developer"), service, v1))
    url = _url(service, dev)
    assert _answers(url) == "v1"
    document = dict(service.current_config(dev).document, entry_points=[])
    actions.save_config(personas["developer"], service, dev, document)
    assert not ProxyServer.objects.filter(service=service).exists()
    assert not Load(url).get().ok  # the frontend is gone after the reload


def test_deleting_an_environment_or_a_service_stops_serving_their_entry_points(
    proxy_dir, demo_registry, environments, admin_user, personas, docker_host
):
    scratch = actions.create_environment(
        admin_user, name="Scratch", slug="scratch", position=40, endpoint_url=docker_host,
        registry=demo_registry, allow_host_network=True,
    )  # fmt: skip
    actions.grant_role(admin_user, scratch, role="developer", to_user=personas["developer"])
    urls = {}
    for environment in (scratch, environments["dev"]):
        service = Service.objects.create(
            name=f"gone{uuid.uuid4().hex[:6]}", registry=demo_registry, repository="demo/app"
        )
        port = _free_port()
        document = {"replicas": 1, "command": VERSIONED_HTTP, "port": stack.free_port_base(),
                    "entry_points": [{"port": port}]}  # fmt: skip
        actions.save_config(personas["developer"], service, environment, document)
        urls[environment.slug] = (service, f"http://127.0.0.1:{port}/")
    for _, url in urls.values():  # served: a frontend with no replica behind it yet
        assert Load(url).get().body.startswith("HTTP 503"), url

    actions.delete_environment(admin_user, scratch)  # its configs and entry points cascade
    assert "ConnectionRefused" in Load(urls["scratch"][1]).get().body
    assert Load(urls["dev"][1]).get().body.startswith("HTTP 503")  # the other one stays

    service, url = urls["dev"]
    service.delete()
    assert "ConnectionRefused" in Load(url).get().body
    assert not EntryPoint.objects.exists() and not ProxyServer.objects.exists()


@pytest.fixture
def their_haproxy(settings):
    """An HAProxy Berth did not start, as a host's own service would run it: its own
    global section (admin socket), its own frontend, and Berth's file loaded beside."""
    path = Path(tempfile.mkdtemp(prefix="bext-", dir="/tmp"))
    theirs = _free_port()
    (path / "main.cfg").write_text(
        f"global\n    master-worker\n    pidfile {path}/ext.pid\n"
        f"    stats socket {path}/ext.sock mode 600 level admin expose-fd listeners\n"
        "    hard-stop-after 30s\n"
        "defaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n"
        "    timeout server 10s\n"
        f"frontend theirs\n    bind 127.0.0.1:{theirs}\n"
        "    http-request return status 200 content-type text/plain string theirs\n"
    )
    (path / "berth.cfg").write_text("# Berth's part, written by Berth\n")
    subprocess.run(
        ["haproxy", "-W", "-D", "-f", str(path / "main.cfg"), "-f", str(path / "berth.cfg")],
        check=True, timeout=30,
    )  # fmt: skip
    # The daemon writes its pid file a moment after the command returns.
    pidfile, deadline = path / "ext.pid", time.monotonic() + 10
    while not (pidfile.exists() and pidfile.read_text().split()):
        assert time.monotonic() < deadline, "HAProxy wrote no pid file in 10 s"
        time.sleep(0.05)
    master = int(pidfile.read_text().split()[0])
    settings.PROXY_MODE = "external"
    settings.PROXY_SOCKET = str(path / "ext.sock")
    settings.PROXY_CONFIG = str(path / "berth.cfg")
    settings.PROXY_RELOAD_COMMAND = f"kill -USR2 {master}"
    yield master, f"http://127.0.0.1:{theirs}/"
    os.kill(master, signal.SIGTERM)
    shutil.rmtree(path, ignore_errors=True)


def test_an_external_haproxy_is_driven_through_its_socket_file_and_reload_command(
    make_service, their_haproxy, versions, environments, personas, api_for, celery_worker_thread
):
    master, their_url = their_haproxy
    v1, v2 = versions
    dev = environments["dev"]
    service = make_service(1)  # the entry point lands in Berth's file; the reload loads it
    api = api_for("developer")
    _succeeded(_deploy(api, service, v1))
    url = _url(service, dev)
    assert _answers(url) == "v1"
    assert "frontend fe_" in Path(settings.PROXY_CONFIG).read_text()

    _set_version(service, dev, personas, "v2")
    with Load(url, rate=200) as load:
        _succeeded(_deploy(api, service, v2))
        time.sleep(0.5)
    _assert_no_failure(load)
    assert load.versions() == ["v1", "v2"]
    assert Load(their_url).get().body == "theirs"  # their own frontend untouched
    assert traffic.proxy_process().stop() is None and os.kill(master, 0) is None  # never stopped
