"""All websocket routes, collected from the apps."""

from environments.routing import websocket_urlpatterns as environment_routes
from pipelines.routing import websocket_urlpatterns as pipeline_routes

websocket_urlpatterns = [*environment_routes, *pipeline_routes]
