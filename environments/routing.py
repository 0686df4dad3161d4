"""Websocket routes of the environments app; every consumer is a
:class:`~environments.consumers.base.BerthConsumer`."""

from django.urls import path

from environments.consumers.changes import EnvironmentChangesConsumer
from environments.consumers.container_logs import ContainerLogConsumer
from environments.consumers.deployments import DeploymentProgressConsumer
from environments.consumers.events import EnvironmentEventsConsumer
from environments.consumers.exec import ContainerExecConsumer
from environments.consumers.service_logs import ServiceLogConsumer
from environments.consumers.stats import ContainerStatsConsumer
from environments.consumers.status import EndpointStatusConsumer

websocket_urlpatterns = [
    path("ws/environments/status/", EndpointStatusConsumer.as_asgi()),
    path("ws/environments/changes/", EnvironmentChangesConsumer.as_asgi()),
    path("ws/deployments/<int:deployment_id>/", DeploymentProgressConsumer.as_asgi()),
    path("ws/containers/<str:container_id>/logs/", ContainerLogConsumer.as_asgi()),
    path("ws/containers/<str:container_id>/stats/", ContainerStatsConsumer.as_asgi()),
    path("ws/containers/<str:container_id>/exec/", ContainerExecConsumer.as_asgi()),
    path("ws/environments/<int:environment_id>/events/", EnvironmentEventsConsumer.as_asgi()),
    path(
        "ws/services/<int:service_id>/environments/<int:environment_id>/logs/",
        ServiceLogConsumer.as_asgi(),
    ),
]
