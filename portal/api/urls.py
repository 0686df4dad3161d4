"""Every REST endpoint, under /api/."""

from django.urls import include, path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
)
from rest_framework.routers import DefaultRouter

from environments.api.deployments import DeploymentViewSet, ServiceViewSet
from environments.api.environments import EnvironmentViewSet, RoleGrantViewSet
from environments.api.favourites import FavouriteViewSet
from pipelines.api import PipelineRunViewSet, PipelineViewSet
from portal.api.views import ApiTokenViewSet, AuditEventViewSet, ObtainTokenView
from registry.api.views import ImageViewSet, PromotionViewSet, RegistryViewSet


class Router(DefaultRouter):
    """Object URLs take ASCII digits only, as the pages' ``<int:...>`` do: the default
    pattern let ``/api/environments/1%20/``, ``+1`` or a full-width ``１`` reach (and
    delete) object 1, since the database lookup reads them all as 1."""

    def get_lookup_regex(self, viewset, lookup_prefix=""):
        regex = super().get_lookup_regex(viewset, lookup_prefix)
        if getattr(viewset, "lookup_value_regex", None) is None:
            regex = regex.replace("[^/.]+", "[0-9]+")
        return regex


router = Router()
router.register("environments", EnvironmentViewSet, basename="environment")
router.register("grants", RoleGrantViewSet, basename="grant")
router.register("audit-events", AuditEventViewSet, basename="audit-event")
router.register("tokens", ApiTokenViewSet, basename="token")
router.register("favourites", FavouriteViewSet, basename="favourite")
router.register("promotions", PromotionViewSet, basename="promotion")
router.register("registries", RegistryViewSet, basename="registry")
router.register("images", ImageViewSet, basename="image")
router.register("services", ServiceViewSet, basename="service")
router.register("deployments", DeploymentViewSet, basename="deployment")
router.register("pipelines", PipelineViewSet, basename="pipeline")
router.register("pipeline-runs", PipelineRunViewSet, basename="pipeline-run")

urlpatterns = [
    path("auth/token/", ObtainTokenView.as_view(), name="api-token"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path(
        "redoc/",
        SpectacularRedocView.as_view(url_name="api-schema", template_name="api/redoc.html"),
        name="api-redoc",
    ),
    path("", include(router.urls)),
]
