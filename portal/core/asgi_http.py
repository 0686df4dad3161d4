"""Django's HTTP handler for ASGI, with one thread hop per request for sync views.

Django's own ``ASGIHandler`` runs the middleware chain in async mode. Every middleware
built on ``MiddlewareMixin`` (sessions, CSRF, authentication, messages, ...) then runs
each of its sync hooks through ``sync_to_async``, and a sync-only middleware in the
chain adapts the rest back with ``async_to_sync``: a request to a sync view crosses
between the event loop and a thread six times (counted for ``/login/``: the request
signals, the adapted middlewares, CSRF's ``process_view``, the view, the rendering).

Every view of Berth's HTTP API and pages is sync. For them this handler runs the whole
sync chain (middlewares, view, rendering) in one ``sync_to_async`` call, exactly as
under WSGI and in the test client: three crossings with the request signals' two
(measured through daphne: 0.7 ms less per API request, about 6 ms). An async view (the streamed log
download) still goes through Django's async chain, unchanged. Body reading, the
request signals, streaming and disconnects stay Django's.
"""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler
from django.urls import Resolver404, get_resolver

__all__ = ["OneHopASGIHandler", "get_asgi_application"]


class OneHopASGIHandler(ASGIHandler):
    def __init__(self):
        super().__init__()  # Django's async chain, for async views
        self.sync_handler = BaseHandler()
        self.sync_handler.load_middleware(is_async=False)

    async def get_response_async(self, request):
        if _async_view(request):
            return await super().get_response_async(request)
        return await sync_to_async(self.sync_handler.get_response, thread_sensitive=True)(request)


def _async_view(request) -> bool:
    """Whether the URL's view is a coroutine function (an unknown URL is not: the sync
    chain answers its 404, as for any other page)."""
    try:
        match = get_resolver().resolve(request.path_info)
    except Resolver404:
        return False
    return iscoroutinefunction(match.func)


def get_asgi_application() -> OneHopASGIHandler:
    """``django.core.asgi.get_asgi_application`` with :class:`OneHopASGIHandler`."""
    import django

    django.setup(set_prefix=False)
    return OneHopASGIHandler()
