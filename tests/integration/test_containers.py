"""One container against the real engine: the live stats websocket (shared reader, exit,
engine gone, permissions) and the REST routes under /api/environments/<id>/containers/<id>/
(inspect with secrets masked, restart / stop / start audited, the log as text with tail)."""

from __future__ import annotations

import asyncio
import tempfile
import threading

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient
from django.urls import reverse

from environments import engine
from environments.deploying.config import MASK, validate
from environments.live import stats
from environments.models import Service, ServiceConfig
from portal.asgi import application
from portal.models import AuditEvent
from registry.models import Registry
from tests.integration.test_logs import _EngineProxy
from tests.ws import WebsocketCommunicator

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    # The sync API client reads the streamed log, made for ASGI, through async_to_sync.
    pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume:Warning"),
]

BUSY = "while :; do :; done"
# Exits at once on SIGTERM (a shell as PID 1 ignores it otherwise): stop takes no 10 s.
IDLE = "trap 'exit 0' TERM; while :; do sleep 0.1; done"

STATS_FIELDS = {
    "type": str,
    "ts": str,
    "cpu_percent": float,
    "memory_bytes": int,
    "memory_limit": int,
    "memory_percent": float,
    "net_rx_bytes": int,
    "net_tx_bytes": int,
    "net_rx_rate": float,
    "net_tx_rate": float,
    "blk_read_bytes": int,
    "blk_write_bytes": int,
    "pids": int,
}


def _stats_socket(secret: str | None, container_id: str) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")]
    if secret:
        headers.append((b"authorization", f"Token {secret}".encode()))
    return WebsocketCommunicator(application, f"/ws/containers/{container_id}/stats/", headers=headers)  # fmt: skip


def _stats_threads(container_id: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"berth-stats-{container_id[:12]}"]


async def _no_stats_reader_left(container_id: str) -> None:
    assert stats.reader_count() == 0
    for _ in range(100):  # the stream is closed, so the reader thread ends promptly
        if not _stats_threads(container_id):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the stats reader thread is still running")


# --- the stats websocket ---------------------------------------------------------------------


async def test_stats_of_a_busy_container_arrive_every_second_for_a_viewer(
    run_container, secret_for
):
    container = run_container(BUSY, mem_limit="64m")
    # The tester may only view Dev: that is enough for stats.
    viewer = _stats_socket(await secret_for("tester"), container.id)
    try:
        assert (await viewer.connect(timeout=10))[0]
        messages = [await viewer.receive_json_from(timeout=10) for _ in range(3)]
    finally:
        await viewer.disconnect()
    for message in messages:
        assert {key: type(value) for key, value in message.items()} == STATS_FIELDS
        assert message["type"] == "stats" and message["ts"].endswith("Z")
        assert message["memory_limit"] == 64 * 1024 * 1024
        assert 0 < message["memory_bytes"] < message["memory_limit"]
        assert 0 < message["memory_percent"] < 100
        assert message["pids"] >= 1
        assert message["net_rx_bytes"] == 0 and message["net_rx_rate"] == 0.0  # network none
    assert all(message["cpu_percent"] > 20 for message in messages)  # a busy loop
    stamps = [message["ts"] for message in messages]
    assert stamps == sorted(stamps) and len(set(stamps)) == 3
    await _no_stats_reader_left(container.id)


async def test_viewers_share_one_stats_reader_which_closes_after_the_last(
    run_container, secret_for
):
    container = run_container(BUSY)
    secret = await secret_for("developer")
    viewers = [_stats_socket(secret, container.id) for _ in range(10)]
    try:
        results = await asyncio.gather(*(v.connect(timeout=20) for v in viewers))
        assert all(connected for connected, _ in results)
        assert stats.reader_count() == 1
        assert len(_stats_threads(container.id)) == 1
        received = await asyncio.gather(*(v.receive_json_from(timeout=10) for v in viewers))
        assert all(message["type"] == "stats" for message in received)
        # A viewer arriving later gets the latest sample at once, not a second later.
        late = _stats_socket(secret, container.id)
        viewers.append(late)
        assert (await late.connect(timeout=10))[0]
        assert (await late.receive_json_from(timeout=0.5))["type"] == "stats"
        assert stats.reader_count() == 1
        for viewer in viewers[:-1]:
            await viewer.disconnect()
        assert stats.reader_count() == 1  # the last viewer still follows
        assert (await late.receive_json_from(timeout=5))["type"] == "stats"
    finally:
        for viewer in viewers:
            await viewer.disconnect()
    await _no_stats_reader_left(container.id)


async def test_a_container_that_exits_ends_the_stats_with_its_code(run_container, secret_for):
    container = run_container("sleep 2; exit 3")
    viewer = _stats_socket(await secret_for("developer"), container.id)
    try:
        assert (await viewer.connect(timeout=10))[0]
        messages = []
        while not messages or messages[-1]["type"] == "stats":
            messages.append(await viewer.receive_json_from(timeout=10))
        assert messages[-1] == {"type": "end", "reason": "container exited (code 3)"}
        assert all(message["type"] == "stats" for message in messages[:-1])
        assert (await viewer.receive_output(timeout=5))["type"] == "websocket.close"
    finally:
        await viewer.disconnect()
    await _no_stats_reader_left(container.id)


async def test_a_container_not_running_at_connect_ends_at_once(run_container, secret_for):
    container = run_container("exit 0")
    await sync_to_async(container.wait)(timeout=10)
    viewer = _stats_socket(await secret_for("developer"), container.id)
    try:
        assert (await viewer.connect(timeout=10))[0]
        assert await viewer.receive_json_from(timeout=5) == {
            "type": "end",
            "reason": "container is not running",
        }
        assert (await viewer.receive_output(timeout=5))["type"] == "websocket.close"
    finally:
        await viewer.disconnect()
    assert stats.reader_count() == 0


async def test_stats_permissions_decide_before_accept(run_container, secret_for):
    dev = run_container(IDLE)
    ops = run_container(IDLE, env="ops")
    cases = [
        (None, dev.id, 4401),
        ("stranger", dev.id, 4404),
        ("developer", ops.id, 4404),  # cannot see Ops at all
        ("developer", "0" * 64, 4404),  # no such container
        ("developer", "-bad", 4404),  # not a container reference
    ]
    for persona, container_id, expected in cases:
        secret = await secret_for(persona) if persona else None
        communicator = _stats_socket(secret, container_id)
        assert await communicator.connect(timeout=10) == (False, expected), (persona, container_id)
        await communicator.disconnect()
    assert stats.reader_count() == 0
    for persona, container in (("operator", dev), ("operator", ops), ("tester", dev)):
        viewer = _stats_socket(await secret_for(persona), container.id)
        try:
            assert (await viewer.connect(timeout=10))[0], persona
            assert (await viewer.receive_json_from(timeout=10))["type"] == "stats"
        finally:
            await viewer.disconnect()
    await _no_stats_reader_left(dev.id)


async def test_an_engine_that_goes_away_ends_the_stats_with_an_error(
    run_container, secret_for, environments, docker_host
):
    container = run_container(BUSY)
    proxy = _EngineProxy(
        docker_host.removeprefix("unix://"), tempfile.mktemp(prefix="berth-", suffix=".sock")
    )
    environments["dev"].endpoint_url = await proxy.start()
    await sync_to_async(environments["dev"].save)()
    viewer = _stats_socket(await secret_for("developer"), container.id)
    try:
        assert (await viewer.connect(timeout=10))[0]
        assert (await viewer.receive_json_from(timeout=10))["type"] == "stats"
        await proxy.kill()
        message = await viewer.receive_json_from(timeout=10)
        while message["type"] == "stats":  # one may have been on its way
            message = await viewer.receive_json_from(timeout=10)
        assert message["type"] == "error"
        assert "Cannot reach the Docker endpoint of Dev" in message["message"]
        assert (await viewer.receive_output(timeout=5))["type"] == "websocket.close"
    finally:
        await viewer.disconnect()
    await _no_stats_reader_left(container.id)


# --- the REST routes -------------------------------------------------------------------------


def _url(name: str, environment, container_id: str) -> str:
    return reverse(name, args=[environment.pk, container_id])


def _state(container) -> dict:
    container.reload()
    return container.attrs["State"]


@pytest.fixture
def configured_service(environments):
    """A Berth service whose Dev config marks DATABASE_URL secret."""
    registry = Registry.objects.create(name="ct", url="http://127.0.0.1:1")
    service = Service.objects.create(name="ctsvc", registry=registry, repository="ct/app")
    document = validate(
        {"env": {"DATABASE_URL": "postgres://app:pw@db/app"}, "secret_env": ["DATABASE_URL"]}
    )
    ServiceConfig.objects.create(
        service=service, environment=environments["dev"], revision=1, document=document
    )
    return service


def test_inspect_masks_configured_and_secret_looking_env_values(
    run_container, configured_service, environments, api_for
):
    env = {
        "DATABASE_URL": "postgres://app:hunter2@db/app",
        "DB_PASSWORD": "s3cr3t-pw",
        "api_token": "tok-123",
        "AWS_SECRET_ACCESS_KEY": "aws-987",
        "PRIVATE_KEY_FILE": "/run/key",
        "BASIC_AUTH": "user:pass-555",
        "LOG_LEVEL": "debug",
        "EMPTY_PASSWORD": "",
    }
    container = run_container(
        IDLE, labels={engine.LABEL_SERVICE: configured_service.name}, environment=env
    )
    response = api_for("tester").get(_url("environment-container", environments["dev"], container.id))  # fmt: skip
    assert response.status_code == 200, response.data
    document = response.json()
    assert document["Id"] == container.id and document["State"]["Running"] is True
    shown = dict(entry.split("=", 1) for entry in document["Config"]["Env"])
    for name in ("DATABASE_URL", "DB_PASSWORD", "api_token", "AWS_SECRET_ACCESS_KEY",
                 "PRIVATE_KEY_FILE", "BASIC_AUTH"):  # fmt: skip
        assert shown[name] == MASK, name
    assert shown["LOG_LEVEL"] == "debug" and shown["EMPTY_PASSWORD"] == ""
    for value in env.values():
        if value and value != "debug":
            assert value not in response.content.decode()


def test_inspect_finds_a_container_by_name_and_only_in_its_own_environment(
    run_container, environments, api_for
):
    container = run_container(IDLE)
    developer = api_for("developer")
    by_name = developer.get(_url("environment-container", environments["dev"], container.name))
    assert by_name.status_code == 200 and by_name.json()["Id"] == container.id
    # Test can be seen by the developer, but the container is Dev's: as unknown as no container.
    other = developer.get(_url("environment-container", environments["test"], container.id))
    unknown = developer.get(_url("environment-container", environments["dev"], "f" * 64))
    assert (other.status_code, unknown.status_code) == (404, 404)
    assert other.json() == unknown.json()
    stranger = api_for("stranger").get(_url("environment-container", environments["dev"], container.id))  # fmt: skip
    assert stranger.status_code == 404


def test_restart_stop_and_start_change_the_state_and_are_audited(
    run_container, environments, api_for, personas
):
    container = run_container(IDLE)
    dev = environments["dev"]
    developer = api_for("developer")
    started_at = _state(container)["StartedAt"]

    response = developer.post(_url("environment-container-restart", dev, container.id))
    assert response.status_code == 200, response.data
    assert response.json() == {"id": container.id, "name": container.name, "state": "running"}
    assert _state(container)["StartedAt"] > started_at

    response = developer.post(_url("environment-container-stop", dev, container.name))
    assert response.status_code == 200, response.data
    assert response.json()["state"] == "exited" and _state(container)["Running"] is False

    response = developer.post(_url("environment-container-start", dev, container.id))
    assert response.status_code == 200, response.data
    assert response.json()["state"] == "running" and _state(container)["Running"] is True

    events = list(AuditEvent.objects.filter(action__startswith="container.").order_by("pk"))
    assert [event.action for event in events] == [
        "container.restart",
        "container.stop",
        "container.start",
    ]
    for event in events:
        assert event.actor == personas["developer"] and event.environment == dev
        assert event.target_type == "container" and event.target_repr == container.name
        assert event.details["container_id"] == container.id
        assert event.details["name"] == container.name


def test_a_tester_may_not_restart_or_stop_in_dev_and_a_stranger_gets_404(
    run_container, environments, api_for
):
    container = run_container(IDLE)
    dev = environments["dev"]
    started_at = _state(container)["StartedAt"]
    for name in ("environment-container-restart", "environment-container-stop"):
        assert api_for("tester").post(_url(name, dev, container.id)).status_code == 403
        assert api_for("stranger").post(_url(name, dev, container.id)).status_code == 404
        assert api_for("anonymous").post(_url(name, dev, container.id)).status_code == 401
    # The operator may deploy in Ops only: Dev's container stays untouched.
    assert api_for("operator").post(_url("environment-container-stop", dev, container.id)).status_code == 403  # fmt: skip
    state = _state(container)
    assert state["Running"] is True and state["StartedAt"] == started_at
    assert not AuditEvent.objects.filter(action__startswith="container.").exists()


def test_operations_on_a_container_of_another_environment_are_404(
    run_container, environments, api_for
):
    ops_container = run_container(IDLE, env="ops")
    response = api_for("developer").post(
        _url("environment-container-stop", environments["dev"], ops_container.id)
    )
    assert response.status_code == 404
    assert _state(ops_container)["Running"] is True


def test_container_routes_answer_424_with_the_reason_when_the_engine_is_down(
    environments, api_for, admin_user
):
    dev = environments["dev"]
    dev.endpoint_url = "unix:///nonexistent/berth-engine.sock"
    dev.save()
    developer = api_for("developer")
    for method, name in (
        ("get", "environment-container"),
        ("post", "environment-container-restart"),
        ("get", "environment-container-logs"),
    ):
        response = getattr(developer, method)(_url(name, dev, "abc123"))
        assert response.status_code == 424, (name, response.status_code)  # as the rest of the API
        assert "Cannot reach the Docker endpoint of Dev" in response.json()["detail"]


def _text(response) -> list[str]:
    body = b"".join(response).decode()
    return [line.split(" ", 2)[2] for line in body.splitlines()]


def _numbered(container, n: int) -> None:
    container.wait(timeout=30)
    assert len(container.logs().splitlines()) == 2 * n


def test_log_route_returns_the_whole_log_as_text_or_its_tail(run_container, environments, api_for):
    container = run_container("for i in $(seq 1 300); do echo out $i; echo err $i >&2; done")
    _numbered(container, 300)
    dev = environments["dev"]
    url = _url("environment-container-logs", dev, container.id)
    developer = api_for("developer")

    response = developer.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="{container.name}.log"'
    lines = b"".join(response).decode().splitlines()
    texts = [line.split(" ", 2)[2] for line in lines]
    assert len(texts) == 600
    assert [t for t in texts if t.startswith("out")] == [f"out {i}" for i in range(1, 301)]
    assert [t for t in texts if t.startswith("err")] == [f"err {i}" for i in range(1, 301)]

    # Docker stamps each stream as it reads it: the merged order is by those times.
    assert _text(developer.get(url, {"tail": "0"})) == []
    last = b"".join(developer.get(url, {"tail": "4"})).decode().splitlines()
    assert last == lines[-4:]

    # "Load older": the lines up to a time, the newest N of them.
    until = lines[199].split(" ", 1)[0]  # the 200th line of the merged log
    older = b"".join(developer.get(url, {"until": until, "tail": "50"})).decode().splitlines()
    assert older == lines[150:200]

    for bad in ("-1", "ten", "1e3", "10001"):
        response = developer.get(url, {"tail": bad})
        assert response.status_code == 400 and "tail is a number of lines" in response.json()["detail"]  # fmt: skip
    response = developer.get(url, {"since": "yesterday"})
    assert response.status_code == 400


def test_log_route_needs_view_logs(run_container, environments, api_for):
    container = run_container("echo hello")
    container.wait(timeout=30)
    url = _url("environment-container-logs", environments["dev"], container.id)
    assert api_for("tester").get(url).status_code == 403  # views Dev, no logs there
    assert api_for("stranger").get(url).status_code == 404
    assert api_for("developer").get(url, HTTP_ACCEPT="text/plain").status_code == 200
    response = api_for("tester").get(url, HTTP_ACCEPT="text/plain")
    assert response.status_code == 403 and b"view_logs" in response.content


async def test_page_download_takes_a_tail_before_a_time(run_container, personas, environments):
    container = run_container("for i in $(seq 1 1500); do echo line $i; done")
    await sync_to_async(container.wait)(timeout=30)
    client = AsyncClient()
    await client.aforce_login(personas["developer"])
    url = reverse("env-container-logs-download", args=["dev", container.id])

    whole = await client.get(url)
    lines = b"".join([chunk async for chunk in whole.streaming_content]).decode().splitlines()
    assert len(lines) == 1500
    until = lines[1199].split(" ", 1)[0]
    response = await client.get(url, {"until": until, "tail": "1000"})
    body = b"".join([chunk async for chunk in response.streaming_content]).decode()
    assert [line.split(" ", 2)[2] for line in body.splitlines()] == [
        f"line {i}" for i in range(201, 1201)
    ]
    bad = await client.get(url, {"tail": "many"})
    assert bad.status_code == 400 and b"tail is a number of lines" in bad.content
