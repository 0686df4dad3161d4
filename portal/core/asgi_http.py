"""Django's HTTP handler for ASGI, with one thread hop per request to a sync view, on
threads that keep their database connection.

Django's own ``ASGIHandler`` gives every request a thread of its own (a
``ThreadSensitiveContext``, created and joined per request), sends the request signals
through it, and runs the middleware chain in async mode: each ``MiddlewareMixin`` hook,
CSRF's ``process_view``, the view and the rendering cross between the event loop and a
thread (six crossings for ``/login/``, counted). And since the thread dies with the
request, its database connection does too: every request opened the SQLite file anew
(and read its schema again), or connected to PostgreSQL anew, whatever ``CONN_MAX_AGE``
said.

Every view of Berth's HTTP API and pages is sync. For them this handler reads the body
on the loop, then does everything else in one call on one of a fixed set of threads
(``BERTH_HTTP_THREADS``), as a threaded WSGI server does: ``request_started`` (which
closes the thread's connection if it is too old or broken), the whole sync chain
(middlewares, view, rendering) and ``request_finished``. The connection stays open
between the requests a thread serves, for ``CONN_MAX_AGE``. Measured through daphne
(Berth's server then) with a promotion (about a dozen queries): about 1.3 ms less per
request than one hop on a new thread per request, about 2 ms less than Django's
handler.

An async view (the streamed log download) still goes through Django's handler,
unchanged. So does a streamed response's body: it is sent from the loop (Berth's
streams are async iterators). A client that goes away while a sync view runs does not
stop it (nor does it under Django's handler: a thread cannot be cancelled); the answer
is dropped by the server.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext, iscoroutinefunction, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.base import BaseHandler
from django.http import FileResponse
from django.urls import Resolver404, get_resolver, set_script_prefix

__all__ = ["OneHopASGIHandler", "get_asgi_application"]


class OneHopASGIHandler(ASGIHandler):
    def __init__(self, threads: int | None = None):
        super().__init__()  # Django's async chain, for async views
        self.sync_handler = BaseHandler()
        self.sync_handler.load_middleware(is_async=False)
        self.threads = ThreadPoolExecutor(
            max_workers=threads or settings.HTTP_THREADS, thread_name_prefix="berth-http"
        )

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or _async_view(scope):
            return await super().__call__(scope, receive, send)
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        try:
            set_script_prefix(get_script_prefix(scope))
            respond = sync_to_async(self._respond, thread_sensitive=False, executor=self.threads)
            response = await respond(scope, body_file)
            if response.streaming:
                async with ThreadSensitiveContext():
                    await self.send_response(response, send)
                    await sync_to_async(response.close)()  # request_finished
            else:
                await self.send_response(response, send)
        finally:
            body_file.close()

    def _respond(self, scope, body_file):
        """On a thread of the pool: the request signals and the whole sync chain. A
        response that is not streamed is closed here (``request_finished``, with this
        thread's database connection) before its body is sent."""
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, response = self.create_request(scope, body_file)
        if request is not None:
            response = self.sync_handler.get_response(request)
        response._handler_class = self.__class__
        if isinstance(response, FileResponse):
            response.block_size = self.chunk_size
        if not response.streaming:
            response.close()
        return response


def _async_view(scope) -> bool:
    """Whether the URL's view is a coroutine function (an unknown URL is not: the sync
    chain answers its 404, as for any other page)."""
    script_name = get_script_prefix(scope)  # path_info as ASGIRequest computes it
    path_info = scope["path"].removeprefix(script_name) if script_name else scope["path"]
    try:
        match = get_resolver().resolve(path_info)
    except Resolver404:
        return False
    return iscoroutinefunction(match.func)


def get_asgi_application() -> OneHopASGIHandler:
    """``django.core.asgi.get_asgi_application`` with :class:`OneHopASGIHandler`."""
    import django

    django.setup(set_prefix=False)
    return OneHopASGIHandler()
