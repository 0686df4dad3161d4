"""The environments app against the real Docker Engine started by scripts/stack.sh."""

import time
import uuid

import pytest
from django.urls import reverse

from environments import actions, engine
from environments.models import Environment
from tests import stack

pytestmark = [pytest.mark.django_db, pytest.mark.integration]


@pytest.fixture
def labelled_container(docker_host, environments):
    """A real container in Dev, identified by a label unique to this test."""
    import docker

    client = docker.DockerClient(base_url=docker_host, version="auto")
    marker = uuid.uuid4().hex[:12]
    container = client.containers.run(
        stack.TEST_IMAGE,
        ["sh", "-c", "sleep 300"],
        name=f"berth-test-{marker}",
        labels={engine.LABEL_ENVIRONMENT: "dev", "berth.test": marker},
        network_mode="none",
        detach=True,
    )
    yield container, marker
    container.remove(force=True)
    client.close()


@pytest.mark.django_db(transaction=True)
def test_dev_endpoint_reports_the_engine_version(
    docker_host, environments, api_for, celery_worker_thread
):
    import time

    import docker

    expected = docker.DockerClient(base_url=docker_host, version="auto").version()["Version"]
    url = reverse("environment-endpoint", args=[environments["dev"].pk])
    # The first GET answers at once with what is known (nothing) and queues a probe,
    # which the worker runs; the state then reads back through the same route.
    deadline = time.monotonic() + 30
    while True:
        response = api_for("developer").get(url)
        assert response.status_code == 200
        if response.data["checked_at"] is not None or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert response.data["reachable"] is True
    assert response.data["engine_version"] == expected
    assert response.data["cpus"] >= 1 and response.data["memory_bytes"] > 0
    environments["dev"].refresh_from_db()
    assert environments["dev"].endpoint_state["engine_version"] == expected


def test_dev_lists_the_container_the_test_started(labelled_container, environments, api_for):
    container, marker = labelled_container
    response = api_for("developer").get(
        reverse("environment-containers", args=[environments["dev"].pk])
    )
    assert response.status_code == 200
    mine = [c for c in response.data if c["labels"].get("berth.test") == marker]
    assert len(mine) == 1
    assert mine[0]["id"] == container.id
    assert mine[0]["state"] == "running"
    assert mine[0]["image"] == stack.TEST_IMAGE


def test_a_container_of_dev_is_not_listed_in_test(labelled_container, environments, api_for):
    _, marker = labelled_container
    response = api_for("developer").get(
        reverse("environment-containers", args=[environments["test"].pk])
    )
    assert response.status_code == 200
    assert not [c for c in response.data if c["labels"].get("berth.test") == marker]


def test_swarm_endpoint_reports_its_nodes(docker_host, admin_user):
    environment = actions.create_environment(
        admin_user,
        name="Swarm",
        slug="swarm",
        endpoint_url=docker_host,
        mode=Environment.Mode.SWARM,
    )
    state = engine.probe(environment)
    assert state.reachable and state.swarm_active and state.swarm_manager
    assert state.nodes == 1
    assert state.warning == ""


@pytest.mark.parametrize(
    "endpoint,reason",
    [
        ("tcp://127.0.0.1:1", "connection refused"),
        ("unix:///nonexistent/docker.sock", "the socket does not exist"),
    ],
)
def test_an_unreachable_endpoint_is_a_state_not_an_error(admin_user, api_for, endpoint, reason):
    environment = actions.create_environment(
        admin_user, name="Gone", slug="gone", endpoint_url=endpoint
    )
    client = api_for("developer")
    client.force_authenticate(admin_user)
    # The API shows the last probe and never waits on the engine; the probe is a task.
    response = client.get(reverse("environment-endpoint", args=[environment.pk]))
    assert response.status_code == 200
    assert response.data["checked_at"] is None and "Not checked yet" in response.data["error"]
    actions.refresh_endpoint_state(environment)  # what the queued probe task does
    response = client.get(reverse("environment-endpoint", args=[environment.pk]))
    assert response.status_code == 200
    assert response.data["reachable"] is False
    assert "Cannot reach the Docker endpoint of Gone" in response.data["error"]
    assert reason in response.data["error"]

    response = client.get(reverse("environment-containers", args=[environment.pk]))
    assert response.status_code == 424
    assert reason in response.data["detail"]


@pytest.mark.parametrize(
    "endpoint,message",
    [
        ("http://127.0.0.1:2375", "use tcp://host:port"),
        ("tcp://127.0.0.1", "has no port"),
        ("unix://var/run/docker.sock", "three slashes"),
        ("docker.example", "must start with unix:// or tcp://"),
    ],
)
def test_a_malformed_endpoint_url_is_refused_with_the_reason(
    admin_user, api_for, endpoint, message
):
    client = api_for("developer")
    client.force_authenticate(admin_user)
    response = client.post(
        reverse("environment-list"),
        {"name": "Bad", "slug": "bad", "endpoint_url": endpoint},
        format="json",
    )
    assert response.status_code == 400
    assert message in str(response.data["endpoint_url"])
    assert not Environment.objects.filter(slug="bad").exists()


def test_running_counts_the_environment_s_containers_not_the_engine_s(
    labelled_container, environments, docker_host
):
    """Dev, Test and Ops share the stack's engine; each counts only its own."""
    import docker

    client = docker.DockerClient(base_url=docker_host, version="auto")
    dev_running = client.containers.list(filters={"label": f"{engine.LABEL_ENVIRONMENT}=dev"})
    state = engine.probe(environments["dev"])
    everything = client.containers.list()
    client.close()
    assert state.containers_running == len(dev_running) >= 1
    assert state.engine_containers_running == len(everything)


def test_a_container_watch_wakes_when_a_health_check_passes_and_when_it_dies(
    run_container, environments
):
    """The health wait of every deployment sleeps on this watch: it must wake on the
    engine's event (not only at its timeout) both for a passing check and for a death."""
    healthy = run_container(
        "trap 'exit 0' TERM; while :; do sleep 0.1; done",
        healthcheck={"test": ["CMD", "true"], "interval": 300_000_000, "retries": 1},
    )
    dying = run_container("sleep 0.5; exit 3")
    with engine.session(environments["dev"]) as session:
        with session.watch([healthy.id]) as watch:
            started = time.monotonic()
            while session.inspect(healthy.id)[1] != "healthy":
                assert watch.wait(5), "no event within 5 s although the check passes"
            assert time.monotonic() - started < 3
        with session.watch([dying.id]) as watch:
            while session.inspect(dying.id)[0] == "running":
                assert watch.wait(5), "no event within 5 s although the container exited"
        assert session.inspect(dying.id) == ("exited", "", 3)
