"""The exec websocket against the real engine: a one-off command with its streams, input
and exit code; a terminal with resize; the session record and audit; the refusals
(rights, the environment's setting, bad parameters, a stopped container, the session
limit) and the bounds (frame size, idle timeout); and a token client without Origin
through a real server, as the CLI connects."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from asgiref.sync import sync_to_async
from websockets.sync.client import connect

from environments import actions
from environments.models import ExecSession
from portal.asgi import application
from portal.models import AuditEvent
from tests.servers import PortalServer
from tests.ws import WebsocketCommunicator

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

IDLE = "trap 'exit 0' TERM; while :; do sleep 0.1; done"


def _exec_socket(secret: str | None, container_id: str, **query) -> WebsocketCommunicator:
    if secret:  # as the CLI: a token, no Origin
        headers = [(b"authorization", f"Token {secret}".encode())]
    else:  # as a browser page without a session
        headers = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")]
    path = f"/ws/containers/{container_id}/exec/"
    if query:
        path += "?" + urlencode(query, doseq=True)
    return WebsocketCommunicator(application, path, headers=headers)


async def _until_exit(socket: WebsocketCommunicator, timeout: float = 10) -> tuple[dict, int]:
    """``({stream: bytes}, exit code)`` once the server has closed with 1000."""
    output: dict[int, bytes] = {1: b"", 2: b""}
    while True:
        message = await socket.receive_output(timeout)
        if message["type"] == "websocket.close":
            raise AssertionError(f"closed with {message.get('code')} before the exit")
        if message.get("bytes") is not None:
            output[message["bytes"][0]] += message["bytes"][1:]
            continue
        event = json.loads(message["text"])
        if event["type"] == "exit":
            closing = await socket.receive_output(timeout)
            assert closing == {"type": "websocket.close", "code": 1000}
            return output, event["code"]
        assert event["type"] != "error", event


async def _refusal(socket: WebsocketCommunicator) -> tuple[int, str]:
    """``(close code, the error message sent before it, or "")``."""
    connected, code = await socket.connect(timeout=15)
    message = ""
    if not connected:
        await socket.disconnect()
        return code, message
    first = await socket.receive_output(5)
    if first["type"] == "websocket.send":
        message = json.loads(first["text"])["message"]
        first = await socket.receive_output(5)
    await socket.disconnect()
    assert first["type"] == "websocket.close", first
    return first["code"], message


async def test_a_one_off_command_streams_both_ways_and_ends_with_its_exit_code(
    run_container, secret_for, personas
):
    container = run_container(IDLE)
    script = "echo out; echo err >&2; cat; exit 3"
    socket = _exec_socket(
        await secret_for("developer"), container.id, cmd=["sh", "-c", script], tty="0"
    )
    try:
        assert (await socket.connect(timeout=15))[0]
        started = await socket.receive_json_from(timeout=10)
        assert started["type"] == "started" and started["tty"] is False
        assert started["command"] == ["sh", "-c", script]
        await socket.send_to(bytes_data=b"hello\n")
        await socket.send_json_to({"type": "eof"})
        output, code = await _until_exit(socket)
    finally:
        await socket.disconnect()
    assert code == 3
    assert output == {1: b"out\nhello\n", 2: b"err\n"}
    session = await sync_to_async(ExecSession.objects.get)(pk=started["session"])
    assert (session.username, session.container_id, session.exit_code) == (
        "developer", container.id, 3,
    )  # fmt: skip
    assert session.command == ["sh", "-c", script] and session.ended_at >= session.started_at
    audited = await sync_to_async(list)(
        AuditEvent.objects.filter(action__startswith="container.exec").order_by("id")
    )
    assert [(e.action, e.actor_name) for e in audited] == [
        ("container.exec", "developer"), ("container.exec.end", "developer"),
    ]  # fmt: skip
    assert audited[0].details["command"] == ["sh", "-c", script]
    assert audited[1].details["exit_code"] == 3


async def test_a_terminal_takes_its_size_and_follows_a_resize(run_container, secret_for):
    container = run_container(IDLE)
    socket = _exec_socket(await secret_for("developer"), container.id, cols=100, rows=30)
    try:
        assert (await socket.connect(timeout=15))[0]
        started = await socket.receive_json_from(timeout=10)
        assert started["command"] == ["/bin/sh"] and started["tty"] is True
        await socket.send_to(bytes_data=b"stty size\n")
        screen = b""
        while b"30 100" not in screen:
            screen += (await socket.receive_from(timeout=10))[1:]
        await socket.send_json_to({"type": "resize", "cols": 120, "rows": 40})
        await socket.send_to(bytes_data=b"stty size; exit 5\n")
        output, code = await _until_exit(socket)
    finally:
        await socket.disconnect()
    assert b"40 120" in output[1] and code == 5


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ({"cols": "0"}, "cols"),
        ({"rows": "1001"}, "rows"),
        ({"tty": "yes"}, "tty"),
        ({"cmd": ""}, "cmd"),
        ({"cmd": "a\x00b"}, "NUL"),
        ({"cmd": ["x"] * 300}, "arguments"),
    ],
)
async def test_bad_parameters_close_with_4400_and_say_why(run_container, secret_for, query, reason):
    container = run_container(IDLE)
    code, message = await _refusal(
        _exec_socket(await secret_for("developer"), container.id, **query)
    )
    assert code == 4400 and reason in message


async def test_who_may_exec_where(run_container, secret_for, personas, environments, admin_user):
    """A viewer is forbidden, Ops (protected) refuses until an administrator allows it,
    and a container of an environment one cannot see is missing, as is no container."""
    dev = run_container(IDLE)
    ops = run_container(IDLE, env="ops")
    tester, operator, developer = [await secret_for(p) for p in ("tester", "operator", "developer")]
    code, message = await _refusal(_exec_socket(tester, dev.id))
    assert code == 4403 and "deploy" in message  # the tester only views Dev
    code, message = await _refusal(_exec_socket(operator, ops.id))
    assert code == 4403 and "turned off in Ops" in message
    assert await _refusal(_exec_socket(developer, ops.id)) == (4404, "")
    assert await _refusal(_exec_socket(developer, "berth-no-such-container")) == (4404, "")
    assert await _refusal(_exec_socket(None, dev.id)) == (4401, "")
    await sync_to_async(actions.update_environment)(
        admin_user, environments["ops"], allow_exec=True
    )
    socket = _exec_socket(operator, ops.id, cmd=["true"], tty="0")
    try:
        assert (await socket.connect(timeout=15))[0]
        assert (await socket.receive_json_from(timeout=10))["type"] == "started"
        assert (await _until_exit(socket))[1] == 0
    finally:
        await socket.disconnect()
    await sync_to_async(actions.update_environment)(
        admin_user, environments["dev"], allow_exec=False
    )
    code, message = await _refusal(_exec_socket(developer, dev.id))
    assert code == 4403 and "turned off in Dev" in message


async def test_a_stopped_container_is_4409(run_container, secret_for, docker_host):
    container = run_container("exit 0")
    container.wait(timeout=10)
    code, message = await _refusal(_exec_socket(await secret_for("developer"), container.id))
    assert code == 4409 and "exited" in message


async def test_sessions_per_user_are_limited_and_a_frame_too_big_ends_one(
    run_container, secret_for, settings
):
    settings.EXEC_SESSIONS_PER_USER = 1
    container = run_container(IDLE)
    secret = await secret_for("developer")
    first = _exec_socket(secret, container.id, cmd=["cat"], tty="0")
    try:
        assert (await first.connect(timeout=15))[0]
        assert (await first.receive_json_from(timeout=10))["type"] == "started"
        code, message = await _refusal(_exec_socket(secret, container.id))
        assert code == 4429 and "1 open exec session" in message
        await first.send_to(bytes_data=b"x" * 70000)
        error = await first.receive_json_from(timeout=10)
        assert error["type"] == "error" and "65536" in error["message"]
        assert (await first.receive_output(10)) == {"type": "websocket.close", "code": 1009}
    finally:
        await first.disconnect()
    session = await sync_to_async(ExecSession.objects.get)()
    assert session.ended_at is not None and "65536" in session.end_reason
    # Ended, it no longer counts: the next one starts.
    again = _exec_socket(secret, container.id, cmd=["true"], tty="0")
    try:
        assert (await again.connect(timeout=15))[0]
        assert (await again.receive_json_from(timeout=10))["type"] == "started"
    finally:
        await again.disconnect()


async def test_an_idle_session_is_closed_with_4408(run_container, secret_for, settings):
    settings.EXEC_IDLE_TIMEOUT = 1
    container = run_container(IDLE)
    socket = _exec_socket(await secret_for("developer"), container.id, cmd=["sleep", "30"], tty="0")
    try:
        assert (await socket.connect(timeout=15))[0]
        assert (await socket.receive_json_from(timeout=10))["type"] == "started"
        error = await socket.receive_json_from(timeout=10)
        assert error["type"] == "error" and "without input or output" in error["message"]
        assert (await socket.receive_output(5)) == {"type": "websocket.close", "code": 4408}
    finally:
        await socket.disconnect()


def test_a_token_client_runs_a_command_through_the_server(tmp_path, docker_host, run_container):
    """As the CLI does it: a token, no Origin, a real server; the exit code comes back."""
    server = PortalServer(tmp_path).start()
    try:
        token = server.token("dev", "berth-dev")
        container = run_container(IDLE)
        ws_url = server.url.replace("http://", "ws://") + f"/ws/containers/{container.id}/exec/"
        query = urlencode({"cmd": ["sh", "-c", "echo hi; exit 7"], "tty": "0"}, doseq=True)
        headers = {"Authorization": f"Token {token}"}
        with connect(f"{ws_url}?{query}", additional_headers=headers, open_timeout=10) as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "started"
            assert ws.recv(timeout=10) == b"\x01hi\n"
            assert json.loads(ws.recv(timeout=10)) == {"type": "exit", "code": 7}
    finally:
        server.stop()
