"""All websocket routes, collected from the apps."""

from environments.routing import websocket_urlpatterns as environment_routes

websocket_urlpatterns = [*environment_routes]
