"""Both deployment modes end to end, as real processes.

embedded: one server process with the Celery worker and beat inside, in-memory
channel layer. redis: the server without a worker plus a separate ``celery -A portal
worker`` process, talking through the real Redis broker and channels_redis. In both,
the periodic endpoint probe runs in the worker and its result reaches a websocket
client connected to the server.
"""

import json
import time

import pytest
import requests
from websockets.exceptions import ConnectionClosedError
from websockets.sync.client import connect

from tests.servers import PortalServer

pytestmark = pytest.mark.integration


@pytest.fixture(params=["embedded", "redis"])
def server(request, tmp_path, docker_host):
    redis_url = None
    if request.param == "redis":
        # A database of its own, so leftovers of other runs never reach this worker.
        redis_url = request.getfixturevalue("redis_url").rsplit("/", 1)[0] + "/7"
    portal = PortalServer(tmp_path, request.param, redis_url).start()
    yield portal
    portal.stop()
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        print(portal.logs())  # the servers' own logs, shown with the failure


def _receive(socket, timeout: float) -> dict:
    return json.loads(socket.recv(timeout=timeout))


def test_the_worker_probes_endpoints_and_the_result_reaches_the_browser_socket(server):
    """Like the dashboard's script, the client reconnects once if the server drops the
    socket: the states must keep arriving from the worker either way."""
    token = server.token("ops", "berth-ops")
    ws_url = server.url.replace("http://", "ws://") + "/ws/environments/status/"
    headers = {"Authorization": f"Token {token}", "Origin": server.url}
    deadline = time.monotonic() + 40
    seen, reconnects = {}, 0
    while len(seen) < 3 and time.monotonic() < deadline:
        try:
            with connect(ws_url, additional_headers=headers, open_timeout=10) as socket:
                snapshot = _receive(socket, 10)
                assert snapshot["type"] == "snapshot"
                assert len(snapshot["environments"]) == 3
                while time.monotonic() < deadline and len(seen) < 3:
                    message = _receive(socket, deadline - time.monotonic())
                    if message["type"] == "state":
                        seen[message["environment"]] = message["state"]
        except ConnectionClosedError:
            reconnects += 1
            assert reconnects <= 1, server.logs()
    assert len(seen) == 3, server.logs()
    assert all(state["reachable"] for state in seen.values())
    assert {state["engine_version"] for state in seen.values()} != {""}


def test_a_developer_sees_dev_and_test_but_not_ops_through_the_api(server):
    token = server.token("dev", "berth-dev")
    response = requests.get(
        f"{server.url}/api/environments/", headers={"Authorization": f"Token {token}"}, timeout=10
    )
    assert [e["name"] for e in response.json()["results"]] == ["Dev", "Test"]


def test_a_socket_without_credentials_is_closed_with_4401(server):
    """Through a real server the refusal reaches the client as a close code it can read
    (a refusal at the handshake would only be an HTTP 403)."""
    ws_url = server.url.replace("http://", "ws://") + "/ws/environments/status/"
    with (
        connect(ws_url, additional_headers={"Origin": server.url}, open_timeout=10) as socket,
        pytest.raises(ConnectionClosedError) as refused,
    ):
        socket.recv(timeout=5)
    assert refused.value.rcvd.code == 4401


def test_a_token_client_sends_no_origin(server):
    """The CLI's way in: a token and no Origin header."""
    token = server.token("dev", "berth-dev")
    ws_url = server.url.replace("http://", "ws://") + "/ws/environments/status/"
    headers = {"Authorization": f"Token {token}"}
    with connect(ws_url, additional_headers=headers, open_timeout=10) as socket:
        assert _receive(socket, 10)["type"] == "snapshot"
