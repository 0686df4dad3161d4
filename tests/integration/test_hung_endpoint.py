"""An engine that accepts connections and never answers costs only its own environment:
container lookups and the promotion board ask every engine at once and do not wait on
the hung one when the answer is already known."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from environments import access, actions
from environments.roles import LOGS
from registry.board import build_board

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture
def hung_endpoint():
    """``tcp://127.0.0.1:<port>``: accepts every connection, never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held, stop = [], threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(timeout=2)
    for connection in held:
        connection.close()
    server.close()


@pytest.fixture
def hung_environments(hung_endpoint, admin_user, personas):
    made = []
    for index in range(2):
        environment = actions.create_environment(
            admin_user, name=f"Hung {index}", slug=f"hung-{index}", position=40 + index,
            endpoint_url=hung_endpoint,
        )  # fmt: skip
        actions.grant_role(admin_user, environment, role="developer", to_user=personas["developer"])
        made.append(environment)
    return made


def test_a_container_is_found_without_waiting_on_a_hung_engine(
    run_container, personas, hung_environments, settings
):
    container = run_container("sleep 60", env="dev")
    developer = personas["developer"]
    started = time.monotonic()
    environment, found = access.locate_container(
        access.environments_with_actions(developer), container.id[:12], LOGS
    )
    took = time.monotonic() - started
    assert (environment.slug, found["id"]) == ("dev", container.id)
    assert took < settings.DOCKER_TIMEOUT / 2, f"waited {took:.1f} s on the hung engine"


def test_the_board_asks_every_engine_at_once(personas, hung_environments, settings, docker_host):
    started = time.monotonic()
    developer = personas["developer"]
    board = build_board(developer, access.visible_environments(developer))
    took = time.monotonic() - started
    assert {"Hung 0", "Hung 1"} <= set(board.errors)
    # Two hung engines one after the other would take two timeouts.
    assert took < settings.DOCKER_TIMEOUT * 1.6, f"{took:.1f} s"
