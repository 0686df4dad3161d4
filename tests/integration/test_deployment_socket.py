"""Deployment progress over a real websocket: a late client gets the history, then live
events, each exactly once."""

import pytest
from asgiref.sync import sync_to_async
from django.urls import reverse

from portal.asgi import application
from portal.core.tokens import create_token
from tests.ws import WebsocketCommunicator

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _socket(secret, deployment_id):
    headers = [(b"origin", b"http://127.0.0.1"), (b"authorization", f"Token {secret}".encode())]
    return WebsocketCommunicator(application, f"/ws/deployments/{deployment_id}/", headers=headers)


async def test_a_late_viewer_gets_the_history_then_live_events_once(
    web_service, versions, personas, api_for, celery_worker_thread
):
    v1, _ = versions
    response = await sync_to_async(api_for("developer").post)(
        reverse("deployment-list"),
        {"service": web_service.name, "environment": "dev", "digest": v1},
        format="json",
    )
    assert response.status_code == 202
    secret = (await sync_to_async(create_token)(personas["tester"], "ws"))[1]  # a viewer of Dev
    socket = _socket(secret, response.data["id"])
    try:
        connected, _ = await socket.connect()
        assert connected
        snapshot = await socket.receive_json_from(timeout=10)
        assert snapshot["type"] == "snapshot" and snapshot["events"][0]["message"] == "Queued"
        seqs = [event["seq"] for event in snapshot["events"]]
        status = snapshot["status"]
        while status not in ("succeeded", "failed"):
            message = await socket.receive_json_from(timeout=60)
            seqs.append(message["event"]["seq"])
            if message["event"]["kind"] in ("done", "failed"):
                status = message["event"]["data"]["status"]
        assert status == "succeeded"
        assert seqs == list(range(1, len(seqs) + 1)), "events missing or repeated"
    finally:
        await socket.disconnect()


async def test_someone_outside_the_environment_is_refused(web_service, versions, personas, api_for):
    v1, _ = versions
    response = await sync_to_async(api_for("developer").post)(
        reverse("deployment-list"),
        {"service": web_service.name, "environment": "dev", "digest": v1},
        format="json",
    )
    secret = (await sync_to_async(create_token)(personas["stranger"], "ws"))[1]
    socket = _socket(secret, response.data["id"])
    connected, code = await socket.connect()
    assert not connected and code == 4404
    await socket.disconnect()
