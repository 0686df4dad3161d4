from django.urls import path

from environments.consumers import EndpointStatusConsumer

websocket_urlpatterns = [
    path("ws/environments/status/", EndpointStatusConsumer.as_asgi()),
]
