"""Pages of the environments app."""

from django.urls import path

from environments.views import containers, deployments, environments, logs

urlpatterns = [
    # environments, their containers and grants
    path("environments/<slug:slug>/", environments.environment_detail, name="env-page"),
    path(
        "environments/<slug:slug>/endpoint/",
        environments.endpoint_fragment,
        name="env-endpoint-fragment",
    ),
    path(
        "environments/<slug:slug>/containers/",
        environments.containers_fragment,
        name="env-containers-fragment",
    ),
    path(
        "environments/<slug:slug>/containers/<str:container_id>/",
        containers.container_detail,
        name="env-container",
    ),
    path(
        "environments/<slug:slug>/containers/<str:container_id>/logs/download/",
        logs.container_logs_download,
        name="env-container-logs-download",
    ),
    path("environments/<slug:slug>/access/", environments.environment_access, name="env-access"),
    path("environments/<slug:slug>/access/grant/", environments.grant_create, name="env-grant"),
    path(
        "environments/<slug:slug>/access/<int:grant_id>/revoke/",
        environments.grant_revoke,
        name="env-revoke",
    ),
    # services and deployments; page names start with ``page-`` so they never collide
    # with the API router's names (``service-list``, ``deployment-detail``, ...)
    path("services/", deployments.service_list, name="page-service-list"),
    path("services/<slug:name>/", deployments.service_detail, name="page-service"),
    path(
        "services/<slug:name>/config/<slug:slug>.json",
        deployments.config_export,
        {"fmt": "json"},
        name="page-service-config-json",
    ),
    path(
        "services/<slug:name>/config/<slug:slug>.yaml",
        deployments.config_export,
        {"fmt": "yaml"},
        name="page-service-config-yaml",
    ),
    path(
        "services/<slug:name>/environments/<slug:slug>/logs/",
        containers.service_logs,
        name="page-service-logs",
    ),
    path("deployments/", deployments.deployment_list, name="page-deployment-list"),
    path("deployments/<int:pk>/", deployments.deployment_detail, name="page-deployment"),
]
