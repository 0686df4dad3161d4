from django.urls import path

from environments import views

urlpatterns = [
    path("<slug:slug>/", views.environment_detail, name="environment-detail"),
    path("<slug:slug>/endpoint/", views.endpoint_fragment, name="environment-endpoint"),
    path("<slug:slug>/containers/", views.containers_fragment, name="environment-containers"),
    path("<slug:slug>/access/", views.environment_access, name="environment-access"),
    path("<slug:slug>/access/grant/", views.grant_create, name="environment-grant"),
    path(
        "<slug:slug>/access/<int:grant_id>/revoke/", views.grant_revoke, name="environment-revoke"
    ),
]
