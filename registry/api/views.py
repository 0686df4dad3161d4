"""REST endpoints of the registry app: thin over the domain functions."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response

from environments import access
from registry.api.serializers import PromoteSerializer, PromotionSerializer
from registry.models import Promotion
from registry.promotion import promote


class PromotionViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Promotions out of or into environments the user can view. POST signs off and
    promotes: 201 when the tags landed, 424 with the failed record when the registry
    failed, 400 when the promotion is refused (nothing is recorded then)."""

    queryset = Promotion.objects.all()
    serializer_class = PromotionSerializer

    def get_queryset(self):
        return Promotion.objects.restrict(self.request.user).select_related(
            "source_environment",
            "target_environment",
            "source_registry",
            "target_registry",
            "actor",
        )

    @extend_schema(
        request=PromoteSerializer, responses={201: PromotionSerializer, 424: PromotionSerializer}
    )
    def create(self, request, *args, **kwargs):
        form = PromoteSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        access.require(request.user, data["source_environment"], "view_environment")
        promotion = promote(
            request.user,
            source=data["source_environment"],
            target=data.get("target_environment"),
            repository=data["repository"],
            digest=data["digest"],
            version=data["version"],
            note=data["note"],
        )
        succeeded = promotion.status == Promotion.Status.SUCCEEDED
        return Response(
            PromotionSerializer(promotion).data,
            status=status.HTTP_201_CREATED if succeeded else status.HTTP_424_FAILED_DEPENDENCY,
        )
