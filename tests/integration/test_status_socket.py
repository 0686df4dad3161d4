"""The status websocket in-process: a real Celery worker thread runs the probe task and
the in-memory channel layer carries its result to a WebsocketCommunicator."""

import pytest
from asgiref.sync import sync_to_async
from celery.contrib.testing.worker import start_worker

from environments.tasks import probe_endpoint
from portal.asgi import application
from portal.celery import app as celery_app
from portal.core.tokens import create_token
from tests.ws import WebsocketCommunicator

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(docker_host):
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        yield


def _communicator(secret: str | None) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")]
    if secret:
        headers.append((b"authorization", f"Token {secret}".encode()))
    return WebsocketCommunicator(application, "/ws/environments/status/", headers=headers)


async def test_a_probe_reaches_viewers_of_that_environment_only(personas, environments, worker):
    dev_secret = (await sync_to_async(create_token)(personas["developer"], "ws"))[1]
    ops_secret = (await sync_to_async(create_token)(personas["operator"], "ws"))[1]
    developer, operator = _communicator(dev_secret), _communicator(ops_secret)
    try:
        assert (await developer.connect())[0] and (await operator.connect())[0]
        dev_snapshot = await developer.receive_json_from()
        ops_snapshot = await operator.receive_json_from()
        ids = {slug: env.pk for slug, env in environments.items()}
        assert set(map(int, dev_snapshot["environments"])) == {ids["dev"], ids["test"]}
        assert set(map(int, ops_snapshot["environments"])) == set(ids.values())

        await sync_to_async(probe_endpoint.delay)(ids["ops"])
        message = await operator.receive_json_from(timeout=20)
        assert message["type"] == "state" and message["environment"] == ids["ops"]
        assert message["state"]["reachable"] is True
        assert await developer.receive_nothing(timeout=1)
    finally:
        await developer.disconnect()
        await operator.disconnect()


async def test_anonymous_and_bad_tokens_are_refused_before_accept(personas):
    for secret in (None, "berth_not-a-token"):
        communicator = _communicator(secret)
        connected, code = await communicator.connect()
        assert not connected and code == 4401
        await communicator.disconnect()


async def test_a_token_counts_whatever_the_origin(personas):
    """The Origin check guards the session cookie (a page of another site cannot set an
    Authorization header on a websocket): a token client is accepted with any Origin,
    and the cookie case is in tests/permissions/test_websocket_routes.py."""
    secret = (await sync_to_async(create_token)(personas["operator"], "ws"))[1]
    communicator = WebsocketCommunicator(
        application,
        "/ws/environments/status/",
        headers=[
            (b"origin", b"http://evil.example"),
            (b"authorization", f"Token {secret}".encode()),
        ],
    )
    connected, _ = await communicator.connect()
    assert connected
    await communicator.disconnect()
