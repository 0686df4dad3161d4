"""Websocket routes of pipelines; every consumer is a BerthConsumer."""

from django.urls import path

from pipelines.consumers import PipelineRunConsumer, WaitingForYouConsumer

websocket_urlpatterns = [
    path("ws/pipeline-runs/<int:run_id>/", PipelineRunConsumer.as_asgi()),
    path("ws/pipelines/waiting/", WaitingForYouConsumer.as_asgi()),
]
