from django.urls import path

from environments.consumers import DeploymentProgressConsumer, EndpointStatusConsumer

websocket_urlpatterns = [
    path("ws/environments/status/", EndpointStatusConsumer.as_asgi()),
    path("ws/deployments/<int:deployment_id>/", DeploymentProgressConsumer.as_asgi()),
]
