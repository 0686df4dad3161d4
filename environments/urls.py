from django.urls import path

from environments import views, views_containers, views_logs

urlpatterns = [
    path("<slug:slug>/", views.environment_detail, name="env-page"),
    path("<slug:slug>/endpoint/", views.endpoint_fragment, name="env-endpoint-fragment"),
    path("<slug:slug>/containers/", views.containers_fragment, name="env-containers-fragment"),
    path(
        "<slug:slug>/containers/<str:container_id>/",
        views_containers.container_detail,
        name="env-container",
    ),
    path(
        "<slug:slug>/containers/<str:container_id>/logs/download/",
        views_logs.container_logs_download,
        name="env-container-logs-download",
    ),
    path("<slug:slug>/access/", views.environment_access, name="env-access"),
    path("<slug:slug>/access/grant/", views.grant_create, name="env-grant"),
    path("<slug:slug>/access/<int:grant_id>/revoke/", views.grant_revoke, name="env-revoke"),
]
