"""Access ends when it is revoked: open sockets close within 2 s when a grant goes, the
account is deactivated or the password changes; a new password ends the API tokens."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.urls import reverse
from django.utils import timezone

from environments import actions
from environments.deploying.config import validate
from environments.models import Deployment, RoleGrant, Service, ServiceConfig
from portal.asgi import application
from portal.core.tokens import create_token
from registry.models import Registry
from tests.ws import WebsocketCommunicator

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def dev_deployment(environments, admin_user):
    registry = Registry.objects.create(name="r", url="http://127.0.0.1:1")
    service = Service.objects.create(name="web", registry=registry, repository="demo/app")
    config = ServiceConfig.objects.create(
        service=service, environment=environments["dev"], revision=1, document=validate({})
    )
    return Deployment.objects.create(
        service=service, environment=environments["dev"], digest="sha256:" + "a" * 64,
        config=config, strategy="rolling", status="running", started_at=timezone.now(),
    )  # fmt: skip


async def _open(personas, persona, deployment):
    secret = (await sync_to_async(create_token)(personas[persona], "ws"))[1]
    headers = [(b"origin", b"http://127.0.0.1"), (b"authorization", f"Token {secret}".encode())]
    socket = WebsocketCommunicator(application, f"/ws/deployments/{deployment.pk}/", headers)
    connected, _ = await socket.connect(timeout=5)
    assert connected
    assert (await socket.receive_json_from(timeout=5))["type"] == "snapshot"
    return socket, secret


async def _closed_with(socket) -> int:
    """The close code, which must come within 2 s."""
    message = await socket.receive_output(timeout=2)
    assert message["type"] == "websocket.close", message
    return message["code"]


async def test_revoking_the_grant_closes_the_socket(personas, dev_deployment, admin_user):
    socket, _ = await _open(personas, "developer", dev_deployment)
    try:
        grant = await sync_to_async(
            lambda: RoleGrant.objects.get(
                environment=dev_deployment.environment_id, group__name="Developers"
            )
        )()
        await sync_to_async(actions.revoke_grant)(admin_user, grant)
        assert await _closed_with(socket) == 4404
    finally:
        await socket.disconnect()


async def test_a_grant_elsewhere_leaves_the_socket_open(personas, dev_deployment, admin_user):
    socket, _ = await _open(personas, "developer", dev_deployment)
    try:
        await sync_to_async(actions.grant_role)(
            admin_user, dev_deployment.environment, role="tester", to_user=personas["stranger"]
        )
        grant = await sync_to_async(
            lambda: RoleGrant.objects.get(environment__slug="test", group__name="Developers")
        )()
        await sync_to_async(actions.revoke_grant)(admin_user, grant)
        assert await socket.receive_nothing(timeout=1)
    finally:
        await socket.disconnect()


async def test_deactivating_the_account_closes_the_socket(personas, dev_deployment):
    socket, _ = await _open(personas, "developer", dev_deployment)
    try:
        developer = personas["developer"]
        developer.is_active = False
        await sync_to_async(developer.save)()
        assert await _closed_with(socket) == 4401
    finally:
        await socket.disconnect()


async def test_a_new_password_ends_the_tokens_and_their_sockets(personas, dev_deployment, api_for):
    socket, secret = await _open(personas, "developer", dev_deployment)
    try:
        developer = personas["developer"]
        developer.set_password("a new one, long enough")
        await sync_to_async(developer.save)()
        assert await _closed_with(socket) == 4401
    finally:
        await socket.disconnect()
    client = api_for("anonymous")
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    response = await sync_to_async(client.get)(reverse("environment-list"))
    assert response.status_code == 401
