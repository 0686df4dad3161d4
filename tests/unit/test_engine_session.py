"""How the deployment session turns a validated config into Docker SDK calls, and Docker's
answers into replicas and errors, on a fake client (environments/engine/session.py)."""

from __future__ import annotations

from types import SimpleNamespace

import docker
import pytest
from docker.utils import parse_bytes

from environments.deploying.config import validate
from environments.engine import EngineSession, EngineUnavailable, Replica
from environments.models import Environment

MiB = 1024**2


class FakeAPI:
    def __init__(self, rows=(), states=None):
        self.rows, self.states, self.calls = list(rows), dict(states or {}), []

    def containers(self, all=False, filters=None):
        self.calls.append(("containers", all, filters))
        return self.rows

    def inspect_container(self, container_id):
        if container_id not in self.states:
            raise docker.errors.NotFound("no such container")
        return {"State": self.states[container_id]}

    def stop(self, container_id, timeout=10):
        self.calls.append(("stop", container_id, timeout))
        raise docker.errors.NotFound("gone already")

    def remove_container(self, container_id, force=False):
        self.calls.append(("remove", container_id, force))
        raise docker.errors.NotFound("gone already")

    def start(self, container_id):
        raise docker.errors.NotFound("gone")


class FakeContainers:
    def __init__(self, error: Exception | None = None):
        self.error, self.runs = error, []

    def run(self, image, **kwargs):
        self.runs.append({"image": image, **kwargs})
        if self.error:
            raise self.error
        return SimpleNamespace(id="c0ffee")


def make_session(api=None, containers=None) -> EngineSession:
    environment = Environment(
        name="Dev",
        slug="dev",
        endpoint_url="unix:///engines/dev.sock",
        only_labelled_containers=True,
    )
    client = SimpleNamespace(api=api or FakeAPI(), containers=containers or FakeContainers())
    return EngineSession(environment, client)


def test_run_hands_docker_the_whole_config():
    config = validate(
        {
            "command": ["java", "-jar", "app.jar"],
            "args": ["--profile=qa"],
            "env": {"MODE": "qa"},
            "port": 8000,
            "volumes": ["data:/var/lib/app", "/srv/conf:/etc/app:ro"],
            "cpus": 0.5,
            "memory": "512MiB",
            "labels": {"team": "payments"},
            "restart_policy": "on-failure",
            "health_check": {"http_path": "/health", "interval": 1.5, "retries": 2},
        }
    )
    containers = FakeContainers()
    session = make_session(containers=containers)
    labels = {"berth.service": "web", "berth.slot": "1"}
    assert session.run(name="web-dev-2-d9", image="r/app@sha256:x", config=config, labels=labels, port=8101) == "c0ffee"  # fmt: skip
    (run,) = containers.runs
    assert run["image"] == "r/app@sha256:x" and run["name"] == "web-dev-2-d9" and run["detach"]
    assert run["command"] == ["java", "-jar", "app.jar", "--profile=qa"]
    assert run["environment"] == {"MODE": "qa", "PORT": "8101"}  # each replica its own port
    assert run["labels"] == {"team": "payments", "berth.service": "web", "berth.slot": "1"}
    assert run["network_mode"] == "host"
    assert run["restart_policy"] == {"Name": "on-failure"}
    assert run["volumes"] == {  # a named volume as the environment's own
        "berth.dev.data": {"bind": "/var/lib/app", "mode": "rw"},
        "/srv/conf": {"bind": "/etc/app", "mode": "ro"},
    }
    assert run["nano_cpus"] == 500_000_000
    assert run["healthcheck"] == {
        "test": ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:8101/health || exit 1"],
        "interval": 1_500_000_000,
        "timeout": 2_000_000_000,
        "retries": 2,
        "start_period": 0,
    }
    # Every memory size validate() accepts reaches Docker as something its SDK reads.
    assert parse_bytes(run["mem_limit"]) == 512 * MiB


def test_run_leaves_out_what_the_config_does_not_ask_for():
    containers = FakeContainers()
    config = validate({"health_check": {"command": ["pg_isready"]}})
    make_session(containers=containers).run(
        name="db-dev-1-d1", image="r/db@sha256:y", config=config, labels={}, port=None
    )
    (run,) = containers.runs
    assert run["command"] is None and run["environment"] == {}
    assert run["restart_policy"] is None and run["volumes"] is None
    assert run["mem_limit"] is None and run["nano_cpus"] is None
    assert run["healthcheck"]["test"] == ["CMD", "pg_isready"]


def test_a_refused_run_is_an_engine_error_naming_the_container():
    error = docker.errors.APIError("409 Conflict", explanation="name already in use")
    session = make_session(containers=FakeContainers(error))
    with pytest.raises(EngineUnavailable, match="^web-dev-1-d3 did not start: name already in use$"):  # fmt: skip
        session.run(name="web-dev-1-d3", image="r/app@sha256:x", config=validate({}), labels={}, port=None)  # fmt: skip


def test_replicas_are_read_from_the_labels_of_this_environments_containers():
    rows = [
        {"Id": "b", "Names": ["/web-dev-2-d4"], "State": "running", "Status": "Up 2 minutes (healthy)",
         "Labels": {"berth.slot": "1", "berth.port": "8101", "berth.colour": "green", "berth.deployment": "4"}},
        {"Id": "a", "Names": ["/web-dev-1-d4"], "State": "exited", "Status": "Exited (1)",
         "Labels": {"berth.slot": "0", "berth.deployment": "4"}},
        {"Id": "c", "Names": ["/web-dev-1-d3"], "State": "running", "Status": "Up (health: starting)",
         "Labels": {"berth.slot": "0", "berth.deployment": "3"}},
    ]  # fmt: skip
    api = FakeAPI(rows)
    replicas = make_session(api=api).replicas("web")
    assert api.calls == [
        ("containers", True, {"label": ["berth.service=web", "berth.environment=dev"]})
    ]
    assert replicas == [
        Replica("c", "web-dev-1-d3", "running", "starting", 0, None, "blue", 3),
        Replica("a", "web-dev-1-d4", "exited", "", 0, None, "blue", 4),
        Replica("b", "web-dev-2-d4", "running", "healthy", 1, 8101, "green", 4),
    ]


def test_inspect_stop_and_remove_take_a_vanished_container_in_their_stride():
    api = FakeAPI(states={"x": {"Status": "exited", "ExitCode": 137, "Health": {"Status": "unhealthy"}}})  # fmt: skip
    session = make_session(api=api)
    assert session.inspect("x") == ("exited", "unhealthy", 137)
    assert session.inspect("gone") == ("removed", "", 0)
    session.stop("gone", timeout=20)
    session.remove("gone")
    assert api.calls == [("stop", "gone", 20), ("remove", "gone", True)]
    with pytest.raises(EngineUnavailable, match="Container 0123456789ab no longer exists."):
        session.start("0123456789abcdef")


def test_the_runtime_s_words_become_a_reason_a_person_reads():
    from environments.engine.session import start_problem

    raw = (
        "failed to create task for container: failed to create shim task: OCI runtime create "
        'failed: runc create failed: unable to start container process: exec: "htpd": '
        "executable file not found in $PATH: unknown"
    )
    error = docker.errors.APIError("400 Bad Request", explanation=raw)
    assert start_problem(error) == (
        "the command 'htpd' is not in the image: check the config's command (the image's "
        "PATH does not have it)"
    )
    other = docker.errors.APIError(
        "400", explanation="OCI runtime create failed: runc create failed: cgroup busy: unknown"
    )
    assert start_problem(other) == "cgroup busy"
