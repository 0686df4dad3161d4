"""Merged service logs against the real engine and a real Swarm: every replica's lines
once, in order, named by their replica; replicas joining and leaving; exact resume with
per-replica cursors; permissions decided before accept."""

from __future__ import annotations

import asyncio
import time
import uuid

import docker
import pytest
from asgiref.sync import sync_to_async

from environments import engine
from environments.live import logs
from environments.models import Service
from portal.asgi import application
from tests import stack
from tests.ws import WebsocketCommunicator

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

N = 500
WAIT_FOR_GO = "while [ ! -e /tmp/go ]; do sleep 0.05; done"
NUMBERED = (
    f"for i in $(seq 1 {N}); do echo out $i; echo err $i >&2; "
    "if [ $((i % 50)) = 0 ]; then sleep 0.05; fi; done"
)


@pytest.fixture
def service(demo_registry):
    return Service.objects.create(
        name=f"logs{uuid.uuid4().hex[:6]}", registry=demo_registry, repository="demo/app"
    )


@pytest.fixture
def engine_client(docker_host):
    client = docker.DockerClient(base_url=docker_host, version="auto")
    yield client
    client.close()


@pytest.fixture
def replica(run_container, service):
    """``replica(script, suffix)``: a container of ``service`` in Dev, removed afterwards."""

    def run(script: str, suffix: str):
        return run_container(
            script, labels={engine.LABEL_SERVICE: service.name}, name=f"{service.name}-dev-{suffix}"
        )

    return run


def _socket(secret: str, service_id: int, environment_id: int, query: str = ""):
    path = f"/ws/services/{service_id}/environments/{environment_id}/logs/"
    headers = [(b"origin", b"http://127.0.0.1"), (b"authorization", f"Token {secret}".encode())]
    return WebsocketCommunicator(application, path + (f"?{query}" if query else ""), headers)


class Viewer:
    """What one client has received: lines per (replica, stream), and the other messages."""

    def __init__(self, communicator):
        self.communicator = communicator
        self.lines: dict[tuple[str, str], list[dict]] = {}
        self.others: list[dict] = []
        self.live = False

    async def until(self, done, timeout: float = 30) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not done(self):
            message = await self.communicator.receive_json_from(
                timeout=max(deadline - loop.time(), 0.1)
            )
            if message["type"] == "lines":
                for line in message["lines"]:
                    replica = line.get("replica") or message["replica"]
                    self.lines.setdefault((replica, line["stream"]), []).append(line)
                await self.communicator.send_json_to({"type": "ack", "seq": message["seq"]})
            elif message["type"] == "live":
                self.live = True
            else:
                self.others.append(message)

    def texts(self, replica: str, stream: str) -> list[str]:
        return [line["text"] for line in self.lines.get((replica, stream), [])]

    def cursors(self) -> str:
        return "&".join(
            f"cursor={replica}/{stream},{lines[-1]['ts']}"
            for (replica, stream), lines in self.lines.items()
        )


def _numbered(word: str, count: int = N) -> list[str]:
    return [f"{word} {i}" for i in range(1, count + 1)]


async def _go(*containers) -> None:
    for container in containers:
        result = await sync_to_async(container.exec_run)(["sh", "-c", ": > /tmp/go"])
        assert result.exit_code == 0


async def test_every_replica_merged_once_in_order_and_named(
    replica, service, secret_for, environments
):
    a = replica(f"echo before a; {WAIT_FOR_GO}; {NUMBERED}; sleep 60", "1")
    b = replica(f"echo before b; {WAIT_FOR_GO}; {NUMBERED}; sleep 60", "2")
    secret = await secret_for("developer")
    viewer = Viewer(_socket(secret, service.pk, environments["dev"].pk, "tail=all"))
    try:
        assert (await viewer.communicator.connect(timeout=10))[0]
        await viewer.until(lambda v: v.live)
        first = viewer.others.pop(0)
        assert first == {"type": "replicas", "mode": "containers", "replicas": [a.name, b.name]}
        assert viewer.texts(a.name, "stdout") == ["before a"]  # the backlog, per line
        assert viewer.texts(b.name, "stdout") == ["before b"]
        assert logs.reader_count() == 2  # the hub's readers, shared with container viewers
        await _go(a, b)
        await viewer.until(
            lambda v: all(
                len(v.texts(c.name, s)) >= N + (s == "stdout")
                for c in (a, b)
                for s in ("stdout", "stderr")
            )  # fmt: skip
        )
        for container in (a, b):
            assert viewer.texts(container.name, "stdout")[1:] == _numbered("out")
            assert viewer.texts(container.name, "stderr") == _numbered("err")
            for stream in ("stdout", "stderr"):
                stamps = [line["ts"] for line in viewer.lines[(container.name, stream)]]
                assert stamps == sorted(stamps)
        assert viewer.others == []

        # A replica that starts later joins from its first line; its end is announced and
        # the others go on.
        c = replica("echo late 1; echo late 2 >&2; echo late 3; exit 3", "3")
        await viewer.until(lambda v: any(m.get("state") == "ended" for m in v.others))
        assert viewer.others == [
            {"type": "replica", "replica": c.name, "state": "started"},
            {"type": "replica", "replica": c.name, "state": "ended", "reason": "container exited (code 3)"},
        ]  # fmt: skip
        assert viewer.texts(c.name, "stdout") == ["late 1", "late 3"]
        assert viewer.texts(c.name, "stderr") == ["late 2"]
        assert await viewer.communicator.receive_nothing(timeout=0.3)
    finally:
        await viewer.communicator.disconnect()
    assert logs.reader_count() == 0


async def test_resuming_with_per_replica_cursors_has_no_gap_and_no_duplicate(
    replica, service, secret_for, environments
):
    slow = f"for i in $(seq 1 {N}); do echo out $i; echo err $i >&2; sleep 0.004; done"
    a = replica(f"{WAIT_FOR_GO}; {slow}; sleep 60", "1")
    b = replica(f"{WAIT_FOR_GO}; {slow}; sleep 60", "2")
    secret = await secret_for("developer")
    first = Viewer(_socket(secret, service.pk, environments["dev"].pk))
    try:
        assert (await first.communicator.connect(timeout=10))[0]
        await first.until(lambda v: v.live)
        await _go(a, b)
        await first.until(lambda v: len(v.texts(a.name, "stdout")) >= 100)
    finally:
        await first.communicator.disconnect()
    await asyncio.sleep(0.5)  # lines go on while nobody follows
    second = Viewer(_socket(secret, service.pk, environments["dev"].pk, first.cursors()))
    try:
        assert (await second.communicator.connect(timeout=10))[0]
        await second.until(
            lambda v: all(
                len(first.texts(c.name, s)) + len(v.texts(c.name, s)) >= N
                for c in (a, b)
                for s in ("stdout", "stderr")
            )
        )
        assert await second.communicator.receive_nothing(timeout=0.3)
    finally:
        await second.communicator.disconnect()
    for container in (a, b):
        for stream, word in (("stdout", "out"), ("stderr", "err")):
            joined = first.texts(container.name, stream) + second.texts(container.name, stream)
            assert joined == _numbered(word)


async def test_only_those_with_view_logs_in_the_environment_may_follow(
    replica, service, secret_for, environments
):
    replica("sleep 60", "1")
    for persona, environment, accepted in (
        ("developer", "dev", True),
        ("tester", "dev", False),  # Testers only view Dev
        ("stranger", "dev", False),
        ("operator", "ops", True),  # allowed there: no replica in Ops, an empty stream
    ):
        socket = _socket(await secret_for(persona), service.pk, environments[environment].pk)
        connected, code = await socket.connect(timeout=10)
        assert connected is accepted, persona
        if accepted:
            message = await socket.receive_json_from(timeout=10)
            assert message["type"] == "replicas"
        elif persona == "stranger":
            assert code == 4404  # the same answer as for a service that does not exist
        else:
            assert code == 4403  # sees Dev, but may not read its logs
        await socket.disconnect()
    unknown = _socket(await secret_for("developer"), 999_999, environments["dev"].pk)
    assert await unknown.connect(timeout=10) == (False, 4404)
    await unknown.disconnect()


@pytest.fixture
def swarm_service(engine_client, service):
    if not (engine_client.info().get("Swarm") or {}).get("ControlAvailable"):
        pytest.fail("the stack's engine is not a Swarm manager (scripts/stack.sh starts one)")
    created = engine_client.services.create(
        stack.TEST_IMAGE,
        ["sh", "-c", f"{NUMBERED}; exec sleep 3600"],
        name=f"{service.name}-dev",
        mode=docker.types.ServiceMode("replicated", replicas=2),
        networks=["host"],
        # Berth's labels, as a Swarm deployment sets them: a service without them is
        # not Berth's, and its logs are never read.
        labels={engine.LABEL_SERVICE: service.name, engine.LABEL_ENVIRONMENT: "dev"},
    )
    yield created
    created.remove()


async def test_swarm_service_logs_name_each_line_by_its_task(
    swarm_service, service, secret_for, environments
):
    secret = await secret_for("developer")
    replicas = [f"{service.name}-dev.1", f"{service.name}-dev.2"]

    def complete(viewer):
        return all(len(viewer.texts(r, s)) >= N for r in replicas for s in ("stdout", "stderr"))

    viewer = Viewer(_socket(secret, service.pk, environments["dev"].pk, "tail=all"))
    deadline = time.monotonic() + 60
    try:
        assert (await viewer.communicator.connect(timeout=10))[0]
        await viewer.until(lambda v: v.live or complete(v))
        assert viewer.others[0] == {"type": "replicas", "mode": "swarm", "replicas": []}
        try:
            await viewer.until(complete, timeout=max(deadline - time.monotonic(), 1))
        except TimeoutError:
            counts = {
                key: (len(lines), sorted(set(_numbered(key[1][3:])) - {x["text"] for x in lines}))
                for key, lines in viewer.lines.items()
            }
            pytest.fail(f"not every line arrived: {counts}, other messages {viewer.others}")
    finally:
        await viewer.communicator.disconnect()
    assert {replica for replica, _ in viewer.lines} == set(replicas)
    for name in replicas:
        assert viewer.texts(name, "stdout") == _numbered("out")
        assert viewer.texts(name, "stderr") == _numbered("err")

    # Resuming with every replica's cursor sends nothing already seen.
    again = Viewer(_socket(secret, service.pk, environments["dev"].pk, viewer.cursors()))
    try:
        assert (await again.communicator.connect(timeout=10))[0]
        await again.until(lambda v: v.live)
        assert again.lines == {}
        assert await again.communicator.receive_nothing(timeout=0.5)
    finally:
        await again.communicator.disconnect()
