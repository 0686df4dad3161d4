"""The server's HTTP handler: a request to a sync view crosses to a thread once."""

import asyncio

import pytest
from asgiref.sync import SyncToAsync
from channels.testing import HttpCommunicator
from django.core.asgi import get_asgi_application as djangos_asgi_application

from portal.core.asgi_http import OneHopASGIHandler

pytestmark = pytest.mark.django_db(transaction=True)


def _crossings(monkeypatch, application, path: str) -> tuple[int, int]:
    """(status, sync_to_async calls) of one GET of ``path`` through ``application``."""
    calls = []
    original = SyncToAsync.__call__

    async def counted(self, *args, **kwargs):
        calls.append(getattr(self.func, "__qualname__", repr(self.func)))
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(SyncToAsync, "__call__", counted)
    communicator = HttpCommunicator(application, "GET", path, headers=[(b"host", b"127.0.0.1")])
    response = asyncio.run(communicator.get_response(timeout=10))
    monkeypatch.undo()
    return response["status"], len(calls)


def test_a_sync_view_takes_one_thread_hop_besides_the_request_signals(monkeypatch):
    status, hops = _crossings(monkeypatch, OneHopASGIHandler(), "/login/")
    assert status == 200
    # request_started, the whole sync chain (middlewares, view, rendering), and
    # closing the response (request_finished): one each.
    assert hops == 3
    status, djangos = _crossings(monkeypatch, djangos_asgi_application(), "/login/")
    assert status == 200
    assert djangos >= 2 * hops  # what this handler is for


def test_an_unknown_address_is_a_404_from_the_sync_chain(monkeypatch):
    status, hops = _crossings(monkeypatch, OneHopASGIHandler(), "/no/such/page/")
    assert (status, hops) == (404, 3)
