from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from portal import views
from registry.webhooks import registry_notification

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    # Browsers ask for /favicon.ico on pages without a <link rel=icon> (the API's, the
    # admin's, a JSON answer): send them to the icon rather than to a 404.
    path(
        "favicon.ico",
        RedirectView.as_view(url=static("img/favicon.svg"), permanent=True),
        name="favicon",
    ),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("profile/", views.profile, name="profile"),
    path("profile/tokens/", views.token_create, name="token-create"),
    path("profile/tokens/<int:token_id>/revoke/", views.token_revoke, name="token-revoke"),
    path("audit/", views.audit_log, name="audit-log"),
    path("help/", views.help_page, name="help"),
    path("", include("registry.urls")),
    path("", include("environments.urls")),
    path("", include("pipelines.urls")),
    path("api/", include("portal.api.urls")),
    path("hooks/registry/<int:registry_id>/", registry_notification, name="registry-notification"),
    path("admin/", admin.site.urls),
]

handler404 = "portal.error_pages.not_found"
handler403 = "portal.error_pages.forbidden"
handler500 = "portal.error_pages.server_error"
