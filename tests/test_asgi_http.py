"""The server's HTTP handler: a request to a sync view crosses to a thread once, and that
thread keeps its database connection for the next request."""

import asyncio

import pytest
from asgiref.sync import SyncToAsync
from django.core.asgi import get_asgi_application as djangos_asgi_application
from django.db import connections
from django.db.backends.signals import connection_created
from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.test import override_settings
from django.urls import path

from portal.core.asgi_http import OneHopASGIHandler

pytestmark = pytest.mark.django_db(transaction=True)


def _count_rows(request):
    from django.contrib.auth.models import User

    return HttpResponse(str(User.objects.count()))


async def _numbers():
    for number in range(3):
        yield f"{number}\n"


def _streamed(request):
    return StreamingHttpResponse(_numbers())


def _file(request):
    return FileResponse(open(__file__, "rb"))  # noqa: SIM115 - closed by the response


urlpatterns = [
    path("rows/", _count_rows),
    path("streamed/", _streamed),
    path("file/", _file),
]


def _get(application, path: str) -> dict:
    """Status and body of a GET of ``path``, as a server would call ``application``."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 80),
    }  # fmt: skip
    sent = []

    async def call():
        incoming = asyncio.Queue()
        incoming.put_nowait({"type": "http.request", "body": b""})

        async def send(message):
            sent.append(message)

        await asyncio.wait_for(application(scope, incoming.get, send), timeout=10)

    asyncio.run(call())
    start, *body = sent
    assert start["type"] == "http.response.start"
    assert not body[-1].get("more_body")
    return {"status": start["status"], "body": b"".join(part.get("body", b"") for part in body)}


def _crossings(monkeypatch, application, path: str) -> tuple[int, int]:
    """(status, sync_to_async calls) of one GET of ``path`` through ``application``."""
    calls = []
    original = SyncToAsync.__call__

    async def counted(self, *args, **kwargs):
        calls.append(getattr(self.func, "__qualname__", repr(self.func)))
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(SyncToAsync, "__call__", counted)
    response = _get(application, path)
    monkeypatch.undo()
    return response["status"], len(calls)


@pytest.fixture
def handler():
    """A handler with one thread; its connection is closed on that thread at the end."""
    handler = OneHopASGIHandler(threads=1)
    yield handler
    handler.threads.submit(connections.close_all).result()
    handler.threads.shutdown()


def test_a_sync_view_takes_one_thread_hop(monkeypatch, handler):
    status, hops = _crossings(monkeypatch, handler, "/login/")
    # The request signals, the whole sync chain (middlewares, view, rendering) and
    # closing the response, in one call.
    assert (status, hops) == (200, 1)
    status, djangos = _crossings(monkeypatch, djangos_asgi_application(), "/login/")
    assert status == 200
    assert djangos >= 6  # what this handler is for


def test_an_unknown_address_is_a_404_from_the_sync_chain(monkeypatch, handler):
    assert _crossings(monkeypatch, handler, "/no/such/page/") == (404, 1)


@override_settings(ROOT_URLCONF=__name__, CONN_MAX_AGE=600)
def test_the_thread_keeps_its_database_connection_between_requests(handler):
    opened = []

    def count(sender, connection, **kwargs):
        opened.append(connection.alias)

    connection_created.connect(count)
    try:
        answers = [_get(handler, "/rows/") for _ in range(5)]
        with_django = [_get(djangos_asgi_application(), "/rows/") for _ in range(5)]
    finally:
        connection_created.disconnect(count)
    assert {answer["status"] for answer in answers + with_django} == {200}
    # Ours: one connection for five requests. Django's handler: one per request (its
    # thread dies with the request).
    assert len(opened) == 1 + 5


@override_settings(ROOT_URLCONF=__name__)
def test_streamed_and_file_responses_are_sent_whole(handler):
    streamed = _get(handler, "/streamed/")
    assert (streamed["status"], streamed["body"]) == (200, b"0\n1\n2\n")
    sent = _get(handler, "/file/")
    with open(__file__, "rb") as source:
        assert (sent["status"], sent["body"]) == (200, source.read())
