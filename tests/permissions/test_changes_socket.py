"""``/ws/environments/changes/``: a live page hears that something changed in an
environment it shows (promotion, push, deployment) and never about one it cannot see."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from portal.asgi import application
from portal.core.events import changes_group, send_now
from portal.core.tokens import create_token

pytestmark = pytest.mark.django_db(transaction=True)


async def _connect(user):
    secret = (await sync_to_async(create_token)(user, "ws"))[1]
    communicator = WebsocketCommunicator(
        application,
        "/ws/environments/changes/",
        headers=[(b"origin", b"http://127.0.0.1"), (b"authorization", f"Token {secret}".encode())],
    )
    connected, _ = await communicator.connect(timeout=15)
    assert connected
    return communicator, await communicator.receive_json_from(timeout=10)


async def test_a_change_reaches_those_who_see_the_environment_and_no_one_else(
    personas, environments
):
    developer, snapshot = await _connect(personas["developer"])
    operator, _ = await _connect(personas["operator"])
    try:
        assert snapshot["type"] == "snapshot"
        assert set(snapshot["environments"].values()) == {"dev", "test"}
        for slug, kind in (("ops", "promotion"), ("dev", "deployment")):
            environment = environments[slug]
            await sync_to_async(send_now)(
                changes_group(environment.pk),
                {"type": "environment.changed", "environment": environment.pk, "kind": kind},
            )
        # The developer hears about Dev only; the Ops promotion never reaches them.
        assert await developer.receive_json_from(timeout=5) == {
            "type": "changed", "environment": "dev", "kind": "deployment",
        }  # fmt: skip
        assert await developer.receive_nothing(timeout=0.3)
        assert await operator.receive_json_from(timeout=5) == {
            "type": "changed", "environment": "ops", "kind": "promotion",
        }  # fmt: skip
    finally:
        await developer.disconnect()
        await operator.disconnect()
