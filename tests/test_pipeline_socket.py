"""``/ws/pipeline-runs/<id>/``: a late viewer gets the run's history, then live events,
each once; ``/ws/pipelines/waiting/`` lists what the user may approve, and changes live."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from pipelines.actions import decide
from pipelines.runner.events import record_event
from portal.asgi import application
from portal.core.tokens import create_token
from tests.test_api_permissions import kit_pipeline_run

pytestmark = pytest.mark.django_db(transaction=True)


def _socket(path: str, secret: str) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://127.0.0.1"), (b"authorization", f"Token {secret}".encode())]
    return WebsocketCommunicator(application, path, headers=headers)


async def test_a_late_viewer_replays_the_history_then_follows_live(personas, environments):
    run = await sync_to_async(kit_pipeline_run)(environments["dev"])
    await sync_to_async(record_event)(run.pk, "gate", "waiting", "Waiting for 1 approval", {})
    secret = (await sync_to_async(create_token)(personas["developer"], "ws"))[1]
    socket = _socket(f"/ws/pipeline-runs/{run.pk}/", secret)
    try:
        connected, _ = await socket.connect(timeout=10)
        assert connected
        snapshot = await socket.receive_json_from(timeout=10)
        assert snapshot["type"] == "snapshot" and snapshot["status"] == "waiting"
        assert [e["message"] for e in snapshot["events"]] == ["Waiting for 1 approval"]
        assert [s["name"] for s in snapshot["stages"]] == ["gate", "smoke"]
        await sync_to_async(decide)(run, "gate", user=personas["developer"], approved=True)
        live = await socket.receive_json_from(timeout=10)
        assert live["type"] == "event" and live["event"]["seq"] == 2
        assert live["event"]["message"] == "Approved by developer"
    finally:
        await socket.disconnect()


async def test_the_waiting_list_shows_what_the_user_may_approve_and_changes_live(
    personas, environments
):
    run = await sync_to_async(kit_pipeline_run)(environments["dev"])
    tester = (await sync_to_async(create_token)(personas["tester"], "ws"))[1]
    developer = (await sync_to_async(create_token)(personas["developer"], "ws"))[1]
    seen = {}
    for name, secret in (("tester", tester), ("developer", developer)):
        socket = _socket("/ws/pipelines/waiting/", secret)
        connected, _ = await socket.connect(timeout=10)
        assert connected
        seen[name] = (socket, await socket.receive_json_from(timeout=10))
    try:
        assert seen["tester"][1]["items"] == []  # no deploy permission in Dev
        items = seen["developer"][1]["items"]
        assert [(i["run"], i["stage"]) for i in items] == [(run.pk, "gate")]
        await sync_to_async(decide)(run, "gate", user=personas["developer"], approved=True)
        again = await seen["developer"][0].receive_json_from(timeout=10)
        assert again["items"] == []
    finally:
        for socket, _ in seen.values():
            await socket.disconnect()


async def test_what_happened_in_a_hidden_stage_stays_out_of_the_runs_reason(
    personas, environments, admin_user
):
    """A run that failed at a stage in Ops names the stage to a developer, not the
    rejection's note: in the API, the page, the socket's snapshot and its live events."""
    from django.test import Client
    from django.urls import reverse
    from rest_framework.test import APIClient

    from pipelines.models import StageRun
    from pipelines.runner.drive import finish_run

    run = await sync_to_async(kit_pipeline_run)(environments["dev"])
    note = "smoke: rejected by operator: prod DB migration not applied on ops-db-01"
    hidden = "smoke: failed in an environment you cannot see"
    await sync_to_async(StageRun.objects.filter(run=run, name="smoke").update)(
        environment=environments["ops"]
    )

    secret = (await sync_to_async(create_token)(personas["developer"], "ws"))[1]
    socket = _socket(f"/ws/pipeline-runs/{run.pk}/", secret)
    try:
        connected, _ = await socket.connect(timeout=10)
        assert connected
        await socket.receive_json_from(timeout=10)
        await sync_to_async(finish_run)(run, "failed", note)
        live = await socket.receive_json_from(timeout=10)
        assert live["event"]["kind"] == "run"
        assert "ops-db-01" not in str(live) and hidden in live["event"]["message"]
    finally:
        await socket.disconnect()
    late = _socket(f"/ws/pipeline-runs/{run.pk}/", secret)
    try:
        connected, _ = await late.connect(timeout=10)
        snapshot = await late.receive_json_from(timeout=10)
        assert snapshot["reason"] == hidden and "ops-db-01" not in str(snapshot)
    finally:
        await late.disconnect()

    def read(user) -> tuple[str, str]:
        api, page = APIClient(), Client()
        api.force_authenticate(user)
        page.force_login(user)
        answer = api.get(reverse("pipeline-run-detail", args=[run.pk])).json()["reason"]
        return answer, page.get(reverse("pipeline-run-page", args=[run.pk])).content.decode()

    answer, page = await sync_to_async(read)(personas["developer"])
    assert answer == hidden and hidden in page and "ops-db-01" not in page
    answer, page = await sync_to_async(read)(admin_user)
    assert answer == note and "ops-db-01" in page

    def audit(user) -> list[str]:  # the event is the home environment's (Dev's)
        api = APIClient()
        api.force_authenticate(user)
        events = api.get("/api/audit-events/?limit=500").json()["results"]
        return [e["details"].get("reason") for e in events if e["action"] == "pipeline_run.failed"]

    elsewhere = "smoke: failed in another environment (see the run)"
    assert await sync_to_async(audit)(personas["developer"]) == [elsewhere]
    assert "ops-db-01" not in str(await sync_to_async(audit)(admin_user))


@pytest.mark.parametrize("path", ["/ws/nothing/", "/ws/pipeline-runs/abc/"])
async def test_a_path_no_socket_serves_is_closed_with_4404(personas, path):
    secret = (await sync_to_async(create_token)(personas["developer"], "ws"))[1]
    socket = _socket(path, secret)
    connected, _ = await socket.connect(timeout=10)
    assert connected
    closed = await socket.receive_output(timeout=10)
    assert closed == {"type": "websocket.close", "code": 4404}
    await socket.disconnect()


async def test_a_stage_log_needs_view_logs_where_the_stage_ran(personas, environments):
    """The tester may view Dev but not read its logs: a Dev stage's log (what ran there)
    is withheld from them in the API and on the socket, snapshot and live, and shown to
    the developer, who holds view_logs in Dev."""
    from rest_framework.test import APIClient

    from pipelines.models import StageRun

    run = await sync_to_async(kit_pipeline_run)(environments["dev"])
    await sync_to_async(StageRun.objects.filter(run=run, name="gate").update)(log="OUTPUT-OF-DEV\n")

    def api_log(persona: str) -> tuple[str, str]:
        client = APIClient()
        client.force_authenticate(personas[persona])
        stage = next(s for s in client.get(f"/api/pipeline-runs/{run.pk}/").data["stages"])
        return stage["status"], stage["log"]

    assert await sync_to_async(api_log)("developer") == ("waiting", "OUTPUT-OF-DEV\n")
    assert await sync_to_async(api_log)("tester") == ("waiting", "")

    sockets = {}
    try:
        for persona in ("developer", "tester"):
            secret = (await sync_to_async(create_token)(personas[persona], "ws"))[1]
            socket = _socket(f"/ws/pipeline-runs/{run.pk}/", secret)
            assert (await socket.connect(timeout=10))[0]
            sockets[persona] = (socket, await socket.receive_json_from(timeout=10))
        mine = next(s for s in sockets["developer"][1]["stages"] if s["name"] == "gate")
        theirs = next(s for s in sockets["tester"][1]["stages"] if s["name"] == "gate")
        assert mine["log"] == "OUTPUT-OF-DEV\n" and "log_withheld" not in mine
        assert theirs["log"] == "" and theirs["status"] == "waiting"
        assert theirs["log_withheld"] == "You may not read logs in Dev."

        await sync_to_async(record_event)(run.pk, "gate", "log", "LIVE-LINE\n", {})
        await sync_to_async(record_event)(run.pk, "gate", "waiting", "Still waiting", {})
        live = await sockets["developer"][0].receive_json_from(timeout=10)
        assert live["event"]["message"] == "LIVE-LINE\n"
        # The tester's next event is the one after the log line: the line never came.
        after = await sockets["tester"][0].receive_json_from(timeout=10)
        assert after["event"]["message"] == "Still waiting"
    finally:
        for socket, _ in sockets.values():
            await socket.disconnect()
