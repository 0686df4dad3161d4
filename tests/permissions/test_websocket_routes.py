"""Every websocket route: its consumer is a BerthConsumer, and it refuses (accept, then close with a code)
whoever may not see what its URL names, exactly as when that object does not exist.

The routes are read from ``portal.routing.websocket_urlpatterns``; each URL parameter is
filled from what it names (``KIND_OF``), so a new route is tested as soon as it is
routed, and one with a parameter or a shape these tests do not know fails
``test_every_route_is_understood`` until it is described here.

* anonymous: 4401 on every route;
* the stranger (a token, no role anywhere): 4404 for Dev's objects; a route whose URL
  names nothing (the status socket) accepts and shows an empty snapshot;
* the developer (Dev and Test, not Ops): 4404 for each parameter in turn pointing at an
  Ops object while the others point at his own, and 4404 for an object nobody has;
  the status snapshot lists Dev and Test only.

Containers are found by asking the engine, so the container routes' developer cases and
the positive controls (the same URLs with visible objects are accepted) run against the
real engine (``integration``).
"""

from __future__ import annotations

import re
import uuid

import docker
import pytest
from channels.db import database_sync_to_async

from environments import engine
from environments.consumers.base import BerthConsumer
from environments.deploying.config import validate
from environments.models import Deployment, Environment, Service, ServiceConfig
from portal.asgi import application
from portal.core.tokens import create_token
from portal.routing import websocket_urlpatterns
from registry.models import Registry
from tests import stack
from tests.test_api_permissions import kit_pipeline_run
from tests.ws import WebsocketCommunicator

pytestmark = pytest.mark.django_db(transaction=True)

ROUTES = {str(pattern.pattern): pattern for pattern in websocket_urlpatterns}
# What each URL parameter names.
KIND_OF = {
    "deployment_id": "deployment",
    "container_id": "container",
    "environment_id": "environment",
    "service_id": "service",
    "run_id": "pipeline_run",
}
# Found by asking the engine rather than the database.
ENGINE_KINDS = {"container"}
# Routes whose URL names nothing: the key of their first message that lists the ids of
# the environments the user can view.
SNAPSHOT_ROUTES = {
    "ws/environments/status/": "environments",
    # The approvals waiting for the user, with the environments they are in.
    "ws/pipelines/waiting/": "environments",
    "ws/environments/changes/": "environments",
}
MISSING = {
    "deployment": 987654,
    "environment": 987654,
    "service": 987654,
    "pipeline_run": 987654,
    "container": "berth-no-such-container",
}
IDLE = "trap 'exit 0' TERM; while :; do sleep 0.1; done"


def _params(route: str) -> list[str]:
    return list(ROUTES[route].pattern.converters)


def _kinds(route: str) -> set[str]:
    return {KIND_OF.get(param, param) for param in _params(route)}


OBJECT_ROUTES = sorted(route for route in ROUTES if route not in SNAPSHOT_ROUTES)
CONTAINER_ROUTES = [route for route in OBJECT_ROUTES if _kinds(route) & ENGINE_KINDS]


def _developer_variants():
    """One parameter at a time hidden (an Ops object) or missing, the others his own."""
    for route in OBJECT_ROUTES:
        for param in _params(route):
            if KIND_OF.get(param) in ENGINE_KINDS:
                continue
            for which in ("hidden", "missing"):
                yield pytest.param(route, param, which, id=f"{route} {param}={which}")


@pytest.fixture
def objects(environments, personas) -> dict[str, dict]:
    """Per environment (``dev``, ``ops``) the value of each kind of URL parameter: its id,
    a service configured and deployed there, a deployment; containers default to a
    reference that does not exist."""
    registry = Registry.objects.create(name="ws-registry", url="http://127.0.0.1:1")
    # Exec is off by default in protected Ops; an administrator turned it on, so that the
    # operator's positive control reaches the exec socket too (the default refusal is
    # in tests/integration/test_exec.py).
    Environment.objects.filter(pk=environments["ops"].pk).update(allow_exec=True)
    found = {}
    for slug in ("dev", "ops"):
        environment = environments[slug]
        service = Service.objects.create(
            name=f"ws-{slug}", registry=registry, repository=f"team/{slug}-app"
        )
        config = ServiceConfig.objects.create(
            service=service, environment=environment, revision=1,
            document=validate({"replicas": 1}),
        )  # fmt: skip
        deployment = Deployment.objects.create(
            service=service, environment=environment, config=config,
            digest="sha256:" + "e" * 64, strategy="rolling", status="succeeded",
        )  # fmt: skip
        found[slug] = {
            "environment": environment.pk,
            "service": service.pk,
            "deployment": deployment.pk,
            "pipeline_run": kit_pipeline_run(environment).pk,
            "container": MISSING["container"],
        }
    return found


@pytest.fixture
def secrets(personas) -> dict[str, str | None]:
    tokens = {p: create_token(personas[p], "ws")[1] for p in ("developer", "stranger", "operator")}
    return tokens | {"anonymous": None}


@pytest.fixture
def containers(docker_host):
    """A running container labelled for Dev and one for Ops, removed afterwards."""
    client = docker.DockerClient(base_url=docker_host, version="auto")
    started = {
        slug: client.containers.run(
            stack.TEST_IMAGE,
            ["sh", "-c", IDLE],
            name=f"berth-wsperm-{slug}-{uuid.uuid4().hex[:8]}",
            labels={engine.LABEL_ENVIRONMENT: slug},
            network_mode="none",
            detach=True,
        )
        for slug in ("dev", "ops")
    }
    yield {slug: container.id for slug, container in started.items()}
    for container in started.values():
        container.remove(force=True)
    client.close()


def _path(route: str, values: dict) -> str:
    """The route with each ``<converter:param>`` replaced by the value of its kind."""
    return "/" + re.sub(
        r"<(?:\w+:)?(\w+)>", lambda match: str(values[KIND_OF[match.group(1)]]), route
    )


async def _attempt(path: str, secret: str | None, *, first_message: bool = False):
    """``(connected, close code or subprotocol, first message, crash)``. Always
    disconnects; ``crash`` is the exception the consumer raised when the client left (as
    a server would log it: "Exception inside application"), else None."""
    headers = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")]
    if secret:
        headers.append((b"authorization", f"Token {secret}".encode()))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    message = crash = None
    try:
        connected, code = await communicator.connect(timeout=15)
        if connected and first_message:
            message = await communicator.receive_json_from(timeout=10)
    finally:
        try:
            await communicator.disconnect()
        except Exception as exc:  # noqa: BLE001 - reported by the caller's assertion
            crash = f"{type(exc).__name__}: {exc}"
    return connected, code, message, crash


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_the_consumer_is_a_berth_consumer(route):
    consumer = getattr(ROUTES[route].callback, "consumer_class", None)
    assert isinstance(consumer, type) and issubclass(consumer, BerthConsumer), (
        f"{route} is served by {consumer!r}, not a BerthConsumer"
    )


def test_every_route_is_understood():
    """Each route names objects of known kinds, or is a known snapshot route."""
    for route in ROUTES:
        unknown = [param for param in _params(route) if param not in KIND_OF]
        assert not unknown, f"{route}: describe {unknown} in KIND_OF (and MISSING, objects)"
        assert _params(route) or route in SNAPSHOT_ROUTES, (
            f"{route} names nothing: describe what it shows in SNAPSHOT_ROUTES"
        )
    assert set(SNAPSHOT_ROUTES) <= set(ROUTES), "SNAPSHOT_ROUTES lists a route that is gone"


@pytest.mark.parametrize("route", sorted(ROUTES))
async def test_anonymous_is_refused(route, objects):
    connected, code, _, crash = await _attempt(_path(route, objects["dev"]), None)
    assert (connected, code, crash) == (False, 4401, None), f"{route} as anonymous"


@pytest.mark.parametrize("route", sorted(ROUTES))
async def test_the_stranger_sees_nothing(route, objects, secrets):
    path = _path(route, objects["dev"])
    if route in SNAPSHOT_ROUTES:
        connected, _, message, crash = await _attempt(path, secrets["stranger"], first_message=True)
        assert connected and crash is None, f"{route} as stranger: {crash}"
        assert message["type"] == "snapshot" and not message[SNAPSHOT_ROUTES[route]], message
    else:
        connected, code, _, crash = await _attempt(path, secrets["stranger"])
        assert (connected, code, crash) == (False, 4404, None), f"{path} as stranger"


@pytest.mark.parametrize(("route", "param", "which"), list(_developer_variants()))
async def test_an_ops_object_is_missing_for_the_developer(route, param, which, objects, secrets):
    kind = KIND_OF[param]
    values = objects["dev"] | {kind: objects["ops"][kind] if which == "hidden" else MISSING[kind]}
    path = _path(route, values)
    connected, code, _, crash = await _attempt(path, secrets["developer"])
    assert (connected, code, crash) == (False, 4404, None), f"{path} as developer ({which})"


@pytest.mark.parametrize("route", sorted(SNAPSHOT_ROUTES))
async def test_the_developer_snapshot_leaves_ops_out(route, secrets, environments):
    connected, _, message, crash = await _attempt(
        _path(route, {}), secrets["developer"], first_message=True
    )
    assert connected and crash is None and message["type"] == "snapshot", (message, crash)
    shown = {int(pk) for pk in message[SNAPSHOT_ROUTES[route]]}
    assert shown == {environments["dev"].pk, environments["test"].pk}


@pytest.mark.integration
@pytest.mark.parametrize("route", CONTAINER_ROUTES)
async def test_a_container_in_ops_is_missing_for_the_developer(route, objects, secrets, containers):
    """A running Ops container answers the developer like a reference nobody has, and a
    running Dev container answers the stranger so; the operator reaches the Ops one."""
    ops_container = _path(route, objects["ops"] | {"container": containers["ops"]})
    no_container = _path(route, objects["dev"] | {"container": MISSING["container"]})
    dev_container = _path(route, objects["dev"] | {"container": containers["dev"]})
    attempts = {
        "developer, Ops container": (ops_container, "developer"),
        "developer, no container": (no_container, "developer"),
        "stranger, Dev container": (dev_container, "stranger"),
    }
    for who, (path, persona) in attempts.items():
        connected, code, _, crash = await _attempt(path, secrets[persona])
        assert (connected, code, crash) == (False, 4404, None), f"{route}, {who}"
    connected, code, _, crash = await _attempt(ops_container, secrets["operator"])
    assert connected and crash is None, f"{route}: the operator got {code}, {crash}"


@pytest.mark.integration
@pytest.mark.parametrize("route", OBJECT_ROUTES)
async def test_the_developer_reaches_his_own_objects(route, objects, secrets, containers):
    """The positive control: the URLs refused above differ only in the object."""
    path = _path(route, objects["dev"] | {"container": containers["dev"]})
    connected, code, _, crash = await _attempt(path, secrets["developer"])
    assert connected and crash is None, f"{path} as developer: {code}, {crash}"


async def test_a_bad_token_is_anonymous(objects):
    """A token that is not one counts as no sign-in at all (4401), not as a stranger."""
    path = _path(OBJECT_ROUTES[0], objects["dev"])
    connected, code, _, crash = await _attempt(path, "berth_not-a-token")
    assert (connected, code, crash) == (False, 4401, None)


def _session_cookie(client, user) -> bytes:
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def _open(path: str, headers: list[tuple[bytes, bytes]]):
    communicator = WebsocketCommunicator(application, path, headers=headers)
    try:
        return await communicator.connect(timeout=15)
    finally:
        await communicator.disconnect()


async def test_a_token_client_needs_no_origin(secrets, environments):
    """The CLI sends a token and no Origin: the Origin check guards cookies, not tokens."""
    headers = [(b"authorization", f"Token {secrets['developer']}".encode())]
    assert (await _open("/ws/environments/status/", headers))[0] is True


async def test_a_cookie_without_an_allowed_origin_is_refused_at_the_handshake(
    client, personas, environments
):
    """Another page cannot use the user's session: no Origin, a foreign one, or one on
    another port of Berth's own host (an entry point serving what a developer deployed,
    which the browser counts as the same site and sends the cookie from), and the
    handshake itself is refused (a 403, before any code of Berth's runs)."""
    cookie = await database_sync_to_async(_session_cookie)(client, personas["developer"])
    host = (b"host", b"127.0.0.1:8000")
    for origin in (None, b"null", b"http://evil.example", b"http://127.0.0.1:18080",
                   b"http://127.0.0.1", b"http://127.0.0.1.evil.example:8000"):  # fmt: skip
        headers = [(b"cookie", cookie), host] + ([(b"origin", origin)] if origin else [])
        # Closed before accept: Channels' denier, which the server answers with HTTP 403.
        assert await _open("/ws/environments/status/", headers) == (False, 1000), origin
    for origin in (b"http://127.0.0.1:8000", b"https://127.0.0.1:8000"):
        allowed = [(b"cookie", cookie), host, (b"origin", origin)]
        assert (await _open("/ws/environments/status/", allowed))[0] is True, origin


async def test_a_trusted_origin_may_open_a_cookie_socket(client, personas, environments, settings):
    """Behind a proxy that terminates TLS on another port, CSRF_TRUSTED_ORIGINS names
    the origin the browser sees (its host must be one of ALLOWED_HOSTS too)."""
    settings.CSRF_TRUSTED_ORIGINS = ["https://127.0.0.1:8443"]
    cookie = await database_sync_to_async(_session_cookie)(client, personas["developer"])
    headers = [(b"cookie", cookie), (b"host", b"127.0.0.1:8000"),
               (b"origin", b"https://127.0.0.1:8443")]  # fmt: skip
    assert (await _open("/ws/environments/status/", headers))[0] is True


async def test_a_bad_token_never_falls_back_to_the_cookie(client, personas, environments):
    """With an Authorization header only the token counts: a wrong one is 4401 even
    beside a valid session cookie, so the header is no way around the Origin check."""
    cookie = await database_sync_to_async(_session_cookie)(client, personas["developer"])
    headers = [(b"cookie", cookie), (b"authorization", b"Token berth_not-a-token")]
    assert await _open("/ws/environments/status/", headers) == (False, 4401)
