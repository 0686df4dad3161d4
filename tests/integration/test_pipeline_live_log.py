"""A test stage's log streams while its container runs: into the stage's log (the API and
the run page) and as events on ``/ws/pipeline-runs/<id>/``; a viewer who joins late gets
what was written so far, then the rest live, each line once."""

from __future__ import annotations

import time

import pytest
from asgiref.sync import sync_to_async
from django.urls import reverse

from portal.asgi import application
from portal.core.tokens import create_token
from tests.integration import test_pipelines
from tests.integration.test_pipelines import _create, _digest_pipeline, _stage
from tests.ws import WebsocketCommunicator

# The container prints these; the command line (shown first in the log) does not.
FIRST, SECOND = "first-2", "second-3"

service = test_pipelines.service  # the fixture: a service configured in every environment

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

STAGE = (
    "  - {name: live, kind: test, environment: dev, timeout: 60,"
    " command: 'echo first-$((1+1)); sleep 4; echo second-$((2+1))'}\n"
)


def _started_run(service, api_for, admin_user, digest):
    service.repository = "demo/app"
    service.save()
    admin = api_for("developer")
    admin.force_authenticate(admin_user)
    pipeline = _create(admin, service, _digest_pipeline(STAGE))
    started = admin.post(
        reverse("pipeline-run", args=[pipeline["id"]]), {"digest": digest}, format="json"
    )
    assert started.status_code == 202, started.data
    return admin, started.data["id"]


async def test_the_test_log_streams_live_and_a_late_viewer_gets_it_replayed(
    celery_worker_thread, service, api_for, admin_user, personas, versions
):
    v1, _ = versions
    admin, run_id = await sync_to_async(_started_run)(service, api_for, admin_user, v1)
    url = reverse("pipeline-run-detail", args=[run_id])

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run = (await sync_to_async(admin.get)(url)).data
        live = _stage(run, "live")
        if FIRST in live["log"] or run["status"] not in ("pending", "running"):
            break
        await sync_to_async(time.sleep)(0.2)
    # The first line is there while the container still runs (sleeping before the second).
    assert live["status"] == "running", run
    assert FIRST in live["log"] and SECOND not in live["log"]

    secret = (await sync_to_async(create_token)(personas["developer"], "ws"))[1]
    headers = [(b"origin", b"http://127.0.0.1"), (b"authorization", f"Token {secret}".encode())]
    socket = WebsocketCommunicator(application, f"/ws/pipeline-runs/{run_id}/", headers=headers)
    try:
        connected, _ = await socket.connect()
        assert connected
        snapshot = await socket.receive_json_from(timeout=10)
        replayed = next(s for s in snapshot["stages"] if s["name"] == "live")["log"]
        assert FIRST in replayed and SECOND not in replayed
        assert all(event["kind"] != "log" for event in snapshot["events"])  # the log stands
        followed, status = "", snapshot["status"]
        while status in ("pending", "running"):
            event = (await socket.receive_json_from(timeout=30))["event"]
            if event["kind"] == "log":
                followed += event["message"]
            if event["kind"] == "run" and event["data"].get("status"):
                status = event["data"]["status"]
        assert status == "succeeded"
        assert SECOND in followed and FIRST not in followed  # each line once
    finally:
        await socket.disconnect()
