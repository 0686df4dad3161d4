"""Deployment strategies against an in-memory engine session: what they stop, start and
remove, in which order, and what they put back when the new version fails."""

from __future__ import annotations

import contextlib
import importlib
import inspect
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

from environments import engine
from environments.deploying.config import validate
from environments.deploying.strategies import STRATEGIES, DeploymentFailed, Progress, run_strategy
from environments.deploying.strategies import base as strategy_base
from environments.deploying.strategies.base import (
    GREEN_PORT_OFFSET,
    health_deadline,
    replica_labels,
    replica_port,
    wait_healthy,
)
from environments.engine import EngineSession, Replica
from environments.engine.session import ContainerWatch

DIGEST = "sha256:" + "ab" * 32
IMAGE = f"registry.test:5000/team/web@{DIGEST}"
OLD, NEW = 7, 8  # deployment ids
# The package exports the strategy functions under their modules' names.
swarm_module = importlib.import_module("environments.deploying.strategies.swarm")
HEALTH = {"command": ["true"], "interval": 0.5, "timeout": 0.5, "retries": 1}


# --- fakes -------------------------------------------------------------------------------


class FakeClock:
    """time.monotonic and time.sleep for the strategies: sleeping advances the clock."""

    def __init__(self):
        self.now = 1000.0
        self.slept = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.now += seconds


@pytest.fixture(autouse=True)
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(strategy_base, "time", fake)
    monkeypatch.setattr(swarm_module, "time", fake)
    return fake


@dataclass
class FakeContainer:
    id: str
    name: str
    labels: dict
    state: str = "running"
    health: str = ""
    exit_code: int = 0
    port: int | None = None


@dataclass
class FakeSession:
    """The EngineSession methods the strategies call, on a dict of containers.

    ``health(container)`` decides the health status a new container reports (with a
    health check); ``fail_run`` names the slots whose ``run`` raises EngineUnavailable.
    """

    health: object = None
    fail_run: set = field(default_factory=set)
    containers: dict[str, FakeContainer] = field(default_factory=dict)
    calls: list[tuple] = field(default_factory=list)
    runs: list[dict] = field(default_factory=list)
    swarm_script: list = field(default_factory=list)
    _next: int = 0

    def add(self, deployment: int, slot: int, *, state="running", colour="blue", port=None):
        cid = f"old-{deployment}-{slot}"
        labels = {
            engine.LABEL_SERVICE: "web",
            engine.LABEL_ENVIRONMENT: "dev",
            engine.LABEL_DEPLOYMENT: str(deployment),
            engine.LABEL_SLOT: str(slot),
            engine.LABEL_COLOUR: colour,
        }
        if port:
            labels[engine.LABEL_PORT] = str(port)
        self.containers[cid] = FakeContainer(cid, f"web-dev-{slot + 1}-d{deployment}", labels, state)  # fmt: skip
        return cid

    def running(self) -> set[str]:
        return {c.id for c in self.containers.values() if c.state == "running"}

    def touched(self, container_id: str) -> list[tuple]:
        return [call for call in self.calls if container_id in call]

    # EngineSession
    present: set = field(default_factory=set)  # images the engine holds already

    def has_image(self, reference: str) -> bool:
        return reference in self.present

    @contextlib.contextmanager
    def watch(self, container_ids: list[str]) -> Iterator[ContainerWatch]:
        # No engine events here: every wait runs out its timeout on the fake clock.
        yield SimpleNamespace(wait=lambda timeout: strategy_base.time.sleep(timeout) or False)

    def pull(self, reference: str, on_progress) -> None:
        self.calls.append(("pull", reference))
        for done in (0, 50, 100):
            on_progress(done, 100)

    def replicas(self, service: str) -> list[Replica]:
        found = []
        for c in self.containers.values():
            if c.labels[engine.LABEL_SERVICE] != service:
                continue
            found.append(
                Replica(
                    id=c.id,
                    name=c.name,
                    state=c.state,
                    health=c.health,
                    slot=int(c.labels[engine.LABEL_SLOT]),
                    port=int(c.labels[engine.LABEL_PORT]) if c.labels.get(engine.LABEL_PORT) else None,
                    colour=c.labels[engine.LABEL_COLOUR],
                    deployment=int(c.labels[engine.LABEL_DEPLOYMENT]),
                )
            )  # fmt: skip
        return sorted(found, key=lambda r: (r.deployment, r.slot))

    def run(self, *, name: str, image: str, config: dict, labels: dict, port: int | None) -> str:
        slot = int(labels[engine.LABEL_SLOT])
        self.calls.append(("run", slot, port))
        if slot in self.fail_run:
            raise engine.EngineUnavailable(f"Could not start {name}: no space left on device")
        self._next += 1
        cid = f"new-{slot}-{self._next}"
        self.runs.append({"id": cid, "name": name, "image": image, "labels": labels, "port": port})
        container = FakeContainer(cid, name, labels, "running", port=port)
        container.health = self.health(container) if self.health else "healthy"
        self.containers[cid] = container
        return cid

    def inspect(self, container_id: str) -> tuple[str, str, int]:
        c = self.containers.get(container_id)
        if c is None:
            return "removed", "", 0
        return c.state, c.health, c.exit_code

    def logs_tail(self, container_id: str, lines: int = 5) -> str:
        return "panic: cannot bind"

    def stop(self, container_id: str, timeout: int = 10) -> None:
        self.calls.append(("stop", container_id, timeout))
        if container_id in self.containers:
            self.containers[container_id].state = "exited"

    def start(self, container_id: str) -> None:
        self.calls.append(("start", container_id))
        self.containers[container_id].state = "running"

    def remove(self, container_id: str) -> None:
        self.calls.append(("remove", container_id))
        self.containers.pop(container_id, None)

    def deploy_swarm(
        self, *, name: str, image: str, config: dict, labels: dict, ports: dict | None = None
    ):
        self.calls.append(("deploy_swarm", name, image))
        self.swarm_labels = labels
        self.swarm_ports = ports
        return SimpleNamespace(attrs={}), True

    def swarm_state(self, service) -> tuple[str, list[dict]]:
        state, tasks, message = self.swarm_script.pop(0) if self.swarm_script else ("", [], "")
        service.attrs["UpdateStatus"] = {"State": state, "Message": message}
        return state, tasks


class Recorder:
    """Progress callbacks that keep what they are given."""

    def __init__(self):
        self.events: list[dict] = []
        self.beats = 0

    def emit(self, kind: str, message: str, data: dict, share: int | None) -> None:
        self.events.append({"kind": kind, "message": message, "progress": share, **data})

    def beat(self) -> None:
        self.beats += 1

    def progress(self) -> Progress:
        return Progress(self.emit, self.beat)

    def messages(self) -> list[str]:
        return [event["message"] for event in self.events]

    def replica_states(self) -> list[tuple[int, str]]:
        return [(e["slot"], e["state"]) for e in self.events if e["kind"] == "replica"]


def make_deployment(strategy="rolling", pk=NEW, **document):
    config = validate({"strategy": strategy, **document})
    service = SimpleNamespace(
        name="web", image=lambda digest: f"registry.test:5000/team/web@{digest}"
    )
    return SimpleNamespace(
        pk=pk,
        digest=DIGEST,
        action="deploy",
        strategy=config["strategy"]["type"],
        service=service,
        environment=SimpleNamespace(slug="dev", pk=1, mode="standalone"),
        config=SimpleNamespace(document=config, revision=4),
    )  # fmt: skip


def deploy(session: FakeSession, deployment, recorder: Recorder | None = None) -> Recorder:
    recorder = recorder or Recorder()
    STRATEGIES[deployment.strategy](
        session, deployment, IMAGE, deployment.config.document, recorder.progress()
    )
    return recorder


def test_the_fake_session_has_the_signatures_of_engine_session():
    for name, method in inspect.getmembers(FakeSession, inspect.isfunction):
        if name.startswith("_") or not hasattr(EngineSession, name):
            continue
        assert inspect.signature(method) == inspect.signature(getattr(EngineSession, name)), name
    used = {"pull", "replicas", "run", "inspect", "logs_tail", "stop", "start", "remove"}
    assert used | {"deploy_swarm", "swarm_state"} <= set(dir(EngineSession))


# --- shared pieces -----------------------------------------------------------------------


def test_replica_ports_are_base_plus_slot_and_green_adds_the_offset():
    config = validate({"port": 8000, "replicas": 3})
    assert [replica_port(config, slot, "blue") for slot in range(3)] == [8000, 8001, 8002]
    assert replica_port(config, 2, "green") == 8000 + GREEN_PORT_OFFSET + 2 == 8102
    assert replica_port(validate({}), 1, "green") is None


def test_replica_labels_say_whose_container_it_is():
    deployment = make_deployment()
    assert replica_labels(deployment, 1, 8001, "green") == {
        "berth.service": "web",
        "berth.environment": "dev",
        "berth.deployment": str(NEW),
        "berth.revision": "4",
        "berth.slot": "1",
        "berth.colour": "green",
        "berth.port": "8001",
    }
    assert "berth.port" not in replica_labels(deployment, 0, None, "blue")


def test_the_health_deadline_follows_the_health_check():
    assert health_deadline(validate({})) == 3.0
    config = validate(
        {
            "health_check": {
                "command": ["true"],
                "interval": 1,
                "timeout": 2,
                "retries": 3,
                "start_period": 10,
            }
        }  # fmt: skip
    )
    assert health_deadline(config) == 10 + (3 + 2) * (1 + 2) + 5


def test_progress_throttles_pull_reports_but_always_reports_the_end(clock):
    recorder = Recorder()
    progress = recorder.progress()
    total = 200_000_000
    progress.pull(20_000_000, total, 5, 25)
    progress.pull(40_000_000, total, 5, 25)  # within 0.5 s of the last report: dropped
    clock.now += 0.6
    progress.pull(120_000_000, total, 5, 25)
    progress.pull(total, total, 5, 25)  # the end, however soon
    assert [(e["done"], e["progress"]) for e in recorder.events] == [
        (20_000_000, 7), (120_000_000, 20), (total, 30),
    ]  # fmt: skip
    assert recorder.events[0]["message"] == "Pulling: 20.0 of 200.0 MB"
    assert {e["kind"] for e in recorder.events} == {"pull"}


def test_progress_beats_at_most_every_five_seconds(clock):
    recorder = Recorder()
    progress = recorder.progress()
    progress.beat()
    clock.now += 4.9
    progress.beat()
    assert recorder.beats == 0
    clock.now += 0.2
    progress.beat()
    progress.beat()
    assert recorder.beats == 1


def test_run_strategy_pulls_the_digest_then_runs_the_configured_strategy():
    session = FakeSession()
    recorder = Recorder()
    run_strategy(session, make_deployment("recreate", health_check=HEALTH), recorder.progress())
    assert session.calls[0] == ("pull", IMAGE)
    assert session.calls[1:] == [("run", 0, None)]
    assert recorder.messages()[0] == f"Pulling {IMAGE}"
    assert "Image ready" in recorder.messages()
    assert [e["progress"] for e in recorder.events if e["kind"] == "pull"][-1] == 30


def test_an_image_already_on_the_engine_is_not_pulled_again():
    session = FakeSession(present={IMAGE})
    recorder = Recorder()
    run_strategy(session, make_deployment("recreate", health_check=HEALTH), recorder.progress())
    assert ("pull", IMAGE) not in session.calls
    assert recorder.messages()[0] == f"Image ready: {IMAGE} is already on the engine"


# --- waiting for health ------------------------------------------------------------------


def test_without_a_health_check_a_replica_counts_once_it_stays_up_a_second(clock):
    session = FakeSession(health=lambda c: "")
    cid = session.run(name="x", image=IMAGE, config={}, labels={"berth.slot": "0"}, port=None)
    recorder = Recorder()
    wait_healthy(session, [(0, cid)], validate({}), recorder.progress(), 1)
    assert 1.0 - 1e-9 <= clock.slept <= 1.0 + strategy_base.POLL + 1e-9
    assert recorder.replica_states() == [(0, "healthy")]


def test_a_replica_that_exits_fails_with_its_code_and_last_lines():
    session = FakeSession()
    cid = session.run(name="x", image=IMAGE, config={}, labels={"berth.slot": "1"}, port=None)
    session.containers[cid].state, session.containers[cid].exit_code = "exited", 3
    recorder = Recorder()
    with pytest.raises(DeploymentFailed) as caught:
        wait_healthy(session, [(1, cid)], validate({}), recorder.progress(), 2)
    assert str(caught.value) == "Replica 2 of 2 exited with code 3: panic: cannot bind"
    assert recorder.replica_states() == [(1, "failed")]


def test_a_replica_still_starting_at_the_deadline_fails_in_time(clock):
    config = validate({"health_check": HEALTH})
    session = FakeSession(health=lambda c: "starting")
    cid = session.run(name="x", image=IMAGE, config=config, labels={"berth.slot": "0"}, port=None)
    recorder = Recorder()
    with pytest.raises(DeploymentFailed, match=r"^Replica 1 of 1 did not become healthy in time\.$"):  # fmt: skip
        wait_healthy(session, [(0, cid)], config, recorder.progress(), 1)
    deadline = health_deadline(config)
    assert deadline < clock.slept <= deadline + strategy_base.POLL + 1e-9
    assert recorder.beats >= 1  # the reaper heard from the deployment while it waited


# --- recreate ----------------------------------------------------------------------------


def test_recreate_stops_the_old_set_then_starts_the_new_one_and_removes_the_old():
    session = FakeSession()
    old = [session.add(OLD, 0), session.add(OLD, 1), session.add(OLD, 2, state="exited")]
    deployment = make_deployment("recreate", replicas=2, health_check=HEALTH, stop_grace_period=20)
    recorder = deploy(session, deployment)
    assert session.calls == [
        ("stop", old[0], 20),
        ("stop", old[1], 20),
        ("run", 0, None),
        ("run", 1, None),
        ("remove", old[0]),
        ("remove", old[1]),
        ("remove", old[2]),
    ]
    assert set(session.containers) == {run["id"] for run in session.runs}
    assert [run["labels"]["berth.colour"] for run in session.runs] == ["blue", "blue"]
    names = [run["name"] for run in session.runs]
    assert [re.fullmatch(rf"web-dev-(\d)-d{NEW}-[0-9a-f]{{4}}", n)[1] for n in names] == ["1", "2"]
    assert recorder.replica_states() == [
        (0, "starting"), (1, "starting"), (0, "healthy"), (1, "healthy"),
    ]  # fmt: skip


def test_recreate_starts_the_old_set_again_when_the_new_one_fails():
    session = FakeSession(health=lambda c: "unhealthy")
    old = [session.add(OLD, 0), session.add(OLD, 1, state="exited")]
    with pytest.raises(DeploymentFailed, match="Replica 1 of 1 failed its health check"):
        deploy(session, make_deployment("recreate", health_check=HEALTH))
    new = session.runs[0]["id"]
    assert session.calls == [
        ("stop", old[0], 10),
        ("run", 0, None),
        ("remove", new),
        ("start", old[0]),  # only what was running is started again
    ]
    assert session.running() == {old[0]}


def test_recreate_cleans_up_when_the_engine_refuses_a_replica():
    session = FakeSession(fail_run={1})
    old = session.add(OLD, 0)
    with pytest.raises(
        DeploymentFailed, match=r"^Replica 2 of 2 could not start \(.*no space left"
    ):
        deploy(session, make_deployment("recreate", replicas=2, health_check=HEALTH))
    assert session.calls[-2:] == [("remove", session.runs[0]["id"]), ("start", old)]
    assert set(session.containers) == {old}


# --- rolling -----------------------------------------------------------------------------


def test_stop_first_rolling_replaces_one_batch_at_a_time():
    session = FakeSession()
    old = [session.add(OLD, slot, port=8000 + slot) for slot in range(3)]
    deployment = make_deployment(
        {"type": "rolling", "batch_size": 2, "max_surge": 0, "max_unavailable": 2},
        replicas=3, port=8000, health_check=HEALTH,
    )  # fmt: skip
    recorder = deploy(session, deployment)
    assert session.calls == [
        ("stop", old[0], 10),
        ("stop", old[1], 10),
        ("run", 0, 8000),
        ("run", 1, 8001),
        ("stop", old[2], 10),
        ("run", 2, 8002),
        ("remove", old[0]),
        ("remove", old[1]),
        ("remove", old[2]),
    ]
    assert session.running() == {run["id"] for run in session.runs}
    replaced = [m for m in recorder.messages() if m.endswith("replicas replaced")]
    assert replaced == ["2 of 3 replicas replaced", "3 of 3 replicas replaced"]


def test_stop_first_rolling_waits_for_each_batch_before_stopping_the_next():
    session = FakeSession()
    old = [session.add(OLD, slot) for slot in range(2)]
    recorder = deploy(
        session,
        make_deployment(
            {"type": "rolling", "max_surge": 0, "max_unavailable": 1},
            replicas=2,
            health_check=HEALTH,
        ),
    )
    assert [call[0] for call in session.calls] == ["stop", "run", "stop", "run", "remove", "remove"]
    states = recorder.replica_states()
    assert states.index((0, "healthy")) < states.index((1, "stopping"))
    assert set(session.containers).isdisjoint(old)


def test_stop_first_rolling_removes_the_new_and_restarts_the_old_on_a_health_failure():
    session = FakeSession(
        health=lambda c: "unhealthy" if c.labels[engine.LABEL_SLOT] == "1" else "healthy"
    )
    old = [session.add(OLD, slot) for slot in range(3)]
    recorder = Recorder()
    with pytest.raises(DeploymentFailed, match=r"^Replica 2 of 3 failed its health check\.$"):
        deploy(
            session,
            make_deployment(
                {"type": "rolling", "max_surge": 0, "max_unavailable": 1},
                replicas=3,
                health_check=HEALTH,
            ),
            recorder,
        )
    new = [run["id"] for run in session.runs]
    assert session.calls == [
        ("stop", old[0], 10),
        ("run", 0, None),
        ("stop", old[1], 10),
        ("run", 1, None),
        ("remove", new[0]),
        ("remove", new[1]),
        ("start", old[0]),
        ("start", old[1]),
    ]  # the third old replica was never stopped
    assert session.running() == set(old) and set(session.containers) == set(old)
    assert "Restoring the previous replicas" in recorder.messages()
    assert recorder.replica_states()[-2:] == [(0, "removed"), (1, "removed")]


def test_rolling_restores_only_the_old_replicas_that_were_running():
    session = FakeSession(health=lambda c: "unhealthy")
    old = [session.add(OLD, 0, state="exited"), session.add(OLD, 1)]
    with pytest.raises(DeploymentFailed):
        deploy(
            session,
            make_deployment(
                {"type": "rolling", "batch_size": 2, "max_surge": 0, "max_unavailable": 2},
                replicas=2,
                health_check=HEALTH,
            ),  # fmt: skip
        )
    new = [run["id"] for run in session.runs]
    assert session.calls == [
        ("stop", old[1], 10),
        ("run", 0, None),
        ("run", 1, None),
        ("remove", new[0]),
        ("remove", new[1]),
        ("start", old[1]),
    ]
    assert session.running() == {old[1]}


def test_rolling_to_fewer_replicas_removes_the_slots_no_longer_used():
    session = FakeSession()
    old = [session.add(OLD, slot) for slot in range(3)]
    deploy(session, make_deployment("rolling", replicas=1, health_check=HEALTH))
    assert session.calls == [
        ("run", 0, None),
        ("stop", old[0], 10),
        ("stop", old[1], 10),
        ("stop", old[2], 10),
        ("remove", old[0]),
        ("remove", old[1]),
        ("remove", old[2]),
    ]


def test_rolling_starts_each_new_replica_on_the_other_colour_before_stopping_its_old_one():
    session = FakeSession()
    old = [session.add(OLD, slot, port=8000 + slot) for slot in range(2)]
    recorder = deploy(
        session, make_deployment("rolling", replicas=2, port=8000, health_check=HEALTH)
    )
    assert session.calls == [
        ("run", 0, 8000 + GREEN_PORT_OFFSET),
        ("stop", old[0], 10),
        ("run", 1, 8001 + GREEN_PORT_OFFSET),
        ("stop", old[1], 10),
        ("remove", old[0]),
        ("remove", old[1]),
    ]
    states = recorder.replica_states()
    assert states.index((0, "healthy")) < states.index((0, "stopping"))
    assert {run["labels"][engine.LABEL_COLOUR] for run in session.runs} == {"green"}


def test_start_first_rolling_never_stops_an_old_replica_when_the_new_one_fails():
    session = FakeSession(health=lambda c: "unhealthy")
    old = [session.add(OLD, slot) for slot in range(2)]
    with pytest.raises(DeploymentFailed):
        deploy(session, make_deployment("rolling", replicas=2, health_check=HEALTH))
    assert all(call[0] != "stop" for call in session.calls), session.calls
    assert session.running() == set(old) and set(session.containers) == set(old)


def test_a_redeploy_leaves_the_replicas_of_the_same_deployment_alone():
    session = FakeSession()
    mine = session.add(NEW, 0)
    deploy(session, make_deployment("rolling", health_check=HEALTH))
    assert session.touched(mine) == []


# --- blue-green --------------------------------------------------------------------------


def test_blue_green_starts_green_beside_live_blue_then_retires_blue():
    session = FakeSession()
    old = [session.add(OLD, slot, port=8000 + slot) for slot in range(2)]
    gone = session.add(OLD - 1, 0, state="exited")
    deployment = make_deployment("blue-green", replicas=2, port=8000, health_check=HEALTH)
    recorder = deploy(session, deployment)
    assert session.calls == [
        ("run", 0, 8100),
        ("run", 1, 8101),
        ("remove", gone),  # a stopped leftover is removed without a stop
        ("stop", old[0], 10),
        ("remove", old[0]),
        ("stop", old[1], 10),
        ("remove", old[1]),
    ]
    assert [run["labels"]["berth.colour"] for run in session.runs] == ["green", "green"]
    assert [run["labels"]["berth.port"] for run in session.runs] == ["8100", "8101"]
    assert session.running() == {run["id"] for run in session.runs}
    assert recorder.messages()[0] == "Starting the green set next to the live one"


def test_blue_green_goes_back_to_blue_from_live_green():
    session = FakeSession()
    session.add(OLD, 0, colour="green", port=8100)
    deploy(session, make_deployment("blue-green", port=8000, health_check=HEALTH))
    assert session.runs[0]["port"] == 8000 and session.runs[0]["labels"]["berth.colour"] == "blue"


def test_blue_green_never_touches_the_live_set_when_the_new_one_fails():
    session = FakeSession(
        health=lambda c: "unhealthy" if c.labels[engine.LABEL_SLOT] == "1" else "healthy"
    )
    old = [session.add(OLD, slot, port=8000 + slot) for slot in range(2)]
    recorder = Recorder()
    deployment = make_deployment("blue-green", replicas=2, port=8000, health_check=HEALTH)
    with pytest.raises(DeploymentFailed, match="Replica 2 of 2 failed its health check"):
        deploy(session, deployment, recorder)
    for container_id in old:
        assert session.touched(container_id) == []
    assert set(session.containers) == set(old) and session.running() == set(old)
    assert session.calls[-2:] == [("remove", session.runs[0]["id"]), ("remove", session.runs[1]["id"])]  # fmt: skip
    assert "Removing the green set; the live set is untouched" in recorder.messages()


def test_blue_green_removes_what_it_started_when_the_engine_refuses_a_replica():
    session = FakeSession(fail_run={1})
    old = session.add(OLD, 0, port=8000)
    with pytest.raises(DeploymentFailed, match="could not start"):
        deploy(session, make_deployment("blue-green", replicas=2, port=8000, health_check=HEALTH))
    assert set(session.containers) == {old}


def test_rolling_removes_what_it_started_when_the_engine_refuses_a_replica_of_the_batch():
    session = FakeSession(fail_run={1})
    old = [session.add(OLD, slot) for slot in range(2)]
    with pytest.raises(DeploymentFailed, match="could not start"):
        deploy(
            session,
            make_deployment(
                {"type": "rolling", "batch_size": 2, "max_surge": 0, "max_unavailable": 2},
                replicas=2,
                health_check=HEALTH,
            ),  # fmt: skip
        )
    assert set(session.containers) == set(old) and session.running() == set(old)


# --- swarm -------------------------------------------------------------------------------


def _task(slot: int, state: str, image: str = IMAGE, desired: str = "running") -> dict:
    return {
        "ID": f"task{slot}-{image[-4:]}",
        "Slot": slot,
        "DesiredState": desired,
        "Status": {"State": state},
        "Spec": {"ContainerSpec": {"Image": image}},
    }


def test_swarm_waits_until_every_task_runs_the_new_digest():
    session = FakeSession()
    session.swarm_script = [
        ("updating", [_task(1, "running", "web@sha256:old"), _task(2, "starting")], ""),
        ("updating", [_task(1, "running"), _task(2, "running")], ""),
        ("completed", [_task(1, "running"), _task(2, "starting")], ""),  # one still starting
        ("completed", [_task(1, "running"), _task(2, "running")], ""),
    ]
    recorder = deploy(session, make_deployment("swarm", replicas=2, port=8000))
    assert session.calls == [("deploy_swarm", "web-dev", IMAGE)]
    assert session.swarm_script == []
    assert "berth.slot" not in session.swarm_labels and "berth.colour" not in session.swarm_labels
    assert session.swarm_labels["berth.port"] == "8000"
    assert recorder.messages()[0] == "Created Swarm service web-dev"


def test_a_swarm_rollback_is_a_failed_deployment_with_the_reason():
    session = FakeSession()
    session.swarm_script = [
        ("updating", [_task(1, "starting")], ""),
        ("rollback_started", [_task(1, "running", "web@sha256:old")], "update rolled back"),
        ("rollback_completed", [_task(1, "running", "web@sha256:old")], "update rolled back"),
    ]
    recorder = Recorder()
    with pytest.raises(DeploymentFailed, match=r"^Swarm rollback completed: update rolled back$"):
        deploy(session, make_deployment("swarm"), recorder)
    assert "Swarm is rolling back to the previous version" in recorder.messages()


def test_each_swarm_task_gets_its_own_port_by_slot_in_a_swarm_template():
    from environments.engine.session import slot_template

    assert slot_template({1: 18001, 2: 18002}) == (
        '{{if eq .Task.Slot "1"}}18001{{else if eq .Task.Slot "2"}}18002{{else}}0{{end}}'
    )


def test_swarm_tasks_serve_while_desired_running_and_drain_while_swarm_stops_them():
    from environments.deploying.strategies.swarm import task_servers

    def task(slot, colour, desired, state="running"):
        return {
            "Slot": slot, "DesiredState": desired,
            "Status": {"State": state, "ContainerStatus": {"ContainerID": f"c{slot}{colour}"}},
            "Spec": {"ContainerSpec": {"Labels": {
                "berth.port": "18000", "berth.colour": colour, "berth.deployment": "7"}}},
        }  # fmt: skip

    serving, stopping = task_servers(
        [task(1, "green", "running"), task(1, "blue", "shutdown"), task(2, "blue", "running"),
         task(2, "green", "running", state="starting"), task(3, "blue", "shutdown", "complete")]
    )  # fmt: skip
    assert [(t.slot, t.port, t.colour) for t in serving] == [
        (0, 18100, "green"),
        (1, 18001, "blue"),
    ]
    assert [(t.slot, t.port, t.name) for t in stopping] == [(0, 18000, "d7-s1")]
