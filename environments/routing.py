from django.urls import path

from environments.consumers import DeploymentProgressConsumer, EndpointStatusConsumer
from environments.log_consumers import ContainerLogConsumer, EnvironmentEventsConsumer
from environments.service_logs import ServiceLogConsumer
from environments.stats_consumers import ContainerStatsConsumer

websocket_urlpatterns = [
    path("ws/environments/status/", EndpointStatusConsumer.as_asgi()),
    path("ws/deployments/<int:deployment_id>/", DeploymentProgressConsumer.as_asgi()),
    path("ws/containers/<str:container_id>/logs/", ContainerLogConsumer.as_asgi()),
    path("ws/containers/<str:container_id>/stats/", ContainerStatsConsumer.as_asgi()),
    path("ws/environments/<int:environment_id>/events/", EnvironmentEventsConsumer.as_asgi()),
    path(
        "ws/services/<int:service_id>/environments/<int:environment_id>/logs/",
        ServiceLogConsumer.as_asgi(),
    ),
]
