"""All websocket routes, collected from the apps, and an answer for every other path."""

from channels.generic.websocket import AsyncWebsocketConsumer
from django.urls import re_path

from environments.routing import websocket_urlpatterns as environment_routes
from pipelines.routing import websocket_urlpatterns as pipeline_routes


class NoSuchSocket(AsyncWebsocketConsumer):
    """A path no socket serves (``/ws/nothing/``, ``/ws/pipeline-runs/abc/``): closed
    with 4404, as a socket whose object does not exist, instead of the router's
    "No route found" error (an HTTP 500 handshake and a traceback in the log)."""

    async def connect(self) -> None:
        await self.accept()
        await self.close(code=4404)


websocket_urlpatterns = [*environment_routes, *pipeline_routes]
#: What the server routes: every socket, then the answer for any other path.
websocket_routes = [*websocket_urlpatterns, re_path(r"", NoSuchSocket.as_asgi())]
