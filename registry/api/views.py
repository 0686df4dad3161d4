"""REST endpoints of the registry app: thin over the domain functions."""

from __future__ import annotations

from collections import defaultdict

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from portal.api.base import RestrictedModelViewSet, RestrictedReadOnlyViewSet
from registry import actions
from registry.api.serializers import (
    ImageSerializer,
    PromoteSerializer,
    PromotionSerializer,
    RegistrySerializer,
)
from registry.inventory import refresh_registry
from registry.models import Image, Promotion, Registry, Tag
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
        promotions = Promotion.objects.restrict(self.request.user).select_related(
            "source_environment",
            "target_environment",
            "source_registry",
            "target_registry",
            "actor",
        )
        digest = self.request.query_params.get("digest")
        return promotions.filter(digest=digest) if digest else promotions

    @extend_schema(
        request=PromoteSerializer, responses={201: PromotionSerializer, 424: PromotionSerializer}
    )
    def create(self, request, *args, **kwargs):
        form = PromoteSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
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


class RegistryViewSet(RestrictedModelViewSet):
    """Registries of the environments the user can view; only administrators change them."""

    queryset = Registry.objects.all()
    serializer_class = RegistrySerializer

    def perform_create(self, serializer):
        serializer.instance = actions.create_registry(
            self.request.user, **serializer.validated_data
        )

    def perform_update(self, serializer):
        serializer.instance = actions.update_registry(
            self.request.user, serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        actions.delete_registry(self.request.user, instance)

    @extend_schema(request=None, responses={200: None})
    @action(detail=True, methods=["post"])
    def refresh(self, request, pk=None):
        """Read every repository's tags from the registry now."""
        registry = self.get_object()
        repositories = refresh_registry(registry)
        return Response({"repositories": len(repositories)})


class ImageViewSet(RestrictedReadOnlyViewSet):
    """Image digests in the registries the user can see, with their tags and promotions.
    ``?repository=team/app`` narrows to one repository."""

    queryset = Image.objects.all()
    serializer_class = ImageSerializer

    def get_queryset(self):
        images = super().get_queryset().select_related("repository__registry")
        repository = self.request.query_params.get("repository")
        return images.filter(repository__name=repository) if repository else images

    def _context_for(self, images) -> dict:
        """Tags and promotions of exactly these images, in two queries."""
        images = list(images)
        tags, promotions = defaultdict(list), defaultdict(list)
        rows = Tag.objects.filter(
            repository_id__in={i.repository_id for i in images},
            digest__in={i.digest for i in images},
        ).values_list("repository_id", "name", "digest")
        for repository_id, name, digest in rows:
            tags[(repository_id, digest)].append(name)
        visible = Promotion.objects.restrict(self.request.user).filter(
            digest__in={i.digest for i in images}
        )
        for promotion in visible.select_related(
            "source_environment", "target_environment", "actor"
        ):
            promotions[promotion.digest].append(promotion)
        return self.get_serializer_context() | {"tags": tags, "promotions": promotions}

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        serializer = ImageSerializer(page, many=True, context=self._context_for(page))
        return self.get_paginated_response(serializer.data)

    def retrieve(self, request, *args, **kwargs):
        image = self.get_object()
        return Response(ImageSerializer(image, context=self._context_for([image])).data)
