"""Service and deployment pages. Page names start with ``page-`` so they never collide
with the API router's names (``service-list``, ``deployment-detail``, ...)."""

from django.urls import path

from environments import views_containers
from environments import views_deployments as views

urlpatterns = [
    path("services/", views.service_list, name="page-service-list"),
    path("services/<slug:name>/", views.service_detail, name="page-service"),
    path(
        "services/<slug:name>/config/<slug:slug>.json",
        views.config_export,
        {"fmt": "json"},
        name="page-service-config-json",
    ),
    path(
        "services/<slug:name>/config/<slug:slug>.yaml",
        views.config_export,
        {"fmt": "yaml"},
        name="page-service-config-yaml",
    ),
    path(
        "services/<slug:name>/environments/<slug:slug>/logs/",
        views_containers.service_logs,
        name="page-service-logs",
    ),
    path("deployments/<int:pk>/", views.deployment_detail, name="page-deployment"),
]
