"""REST endpoints of the registry app: thin over the domain functions."""

from __future__ import annotations

from collections import defaultdict

from django.db.models import F
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, serializers, status
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
from registry.models import Image, Promotion, Registry, Tag
from registry.promotion import promote


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("digest", str, description="Only promotions of this digest."),
        ]
    )
)
class PromotionViewSet(mixins.CreateModelMixin, RestrictedReadOnlyViewSet):
    """Promotions out of or into environments the user can view. POST signs off and
    promotes: 201 when the tags landed, 424 with the failed record when the registry
    failed, 400 when the promotion is refused (nothing is recorded then)."""

    queryset = Promotion.objects.select_related(
        "source_environment", "target_environment", "source_registry", "target_registry", "actor"
    )
    serializer_class = PromotionSerializer

    def get_queryset(self):
        promotions = super().get_queryset()
        digest = self.request.query_params.get("digest")
        return promotions.filter(digest=digest) if digest else promotions

    @extend_schema(
        request=PromoteSerializer,
        responses={201: PromotionSerializer, 202: PromotionSerializer, 424: PromotionSerializer},
    )
    def create(self, request, *args, **kwargs):
        data = self.validated(PromoteSerializer, request.data)
        promotion = promote(
            request.user,
            source=data["source_environment"],
            target=data.get("target_environment"),
            repository=data["repository"],
            digest=data["digest"],
            version=data["version"],
            note=data["note"],
        )
        answer = {
            Promotion.Status.SUCCEEDED: status.HTTP_201_CREATED,
            Promotion.Status.RUNNING: status.HTTP_202_ACCEPTED,  # a copy, as a task
        }.get(promotion.status, status.HTTP_424_FAILED_DEPENDENCY)
        return Response(PromotionSerializer(promotion).data, status=answer)


class RegistryViewSet(RestrictedModelViewSet):
    """Registries of the environments the user can view; only administrators change them."""

    queryset = Registry.objects.all()
    serializer_class = RegistrySerializer

    def create_object(self, user, data: dict) -> Registry:
        return actions.create_registry(user, **data)

    def update_object(self, user, instance: Registry, data: dict) -> Registry:
        return actions.update_registry(user, instance, **data)

    def perform_destroy(self, instance):
        actions.delete_registry(self.request.user, instance)

    @extend_schema(
        request=None,
        responses={
            202: inline_serializer(
                "RefreshQueued",
                {"queued": serializers.BooleanField(), "detail": serializers.CharField()},
            )
        },
    )
    @action(detail=True, methods=["post"])
    def refresh(self, request, pk=None):
        """Queue a read of every repository's tags (needs deploy or sign-off rights in an
        environment using the registry); the Images page shows the result. One refresh
        per registry waits in the queue at a time: asking again meanwhile queues nothing
        (``queued`` false)."""
        registry = self.get_object()
        queued = actions.request_refresh(request.user, registry)
        detail = (
            f"A refresh of {registry.name} is queued."
            if queued
            else f"A refresh of {registry.name} is already queued: it will read every tag."
        )
        return Response({"queued": queued, "detail": detail}, status=status.HTTP_202_ACCEPTED)


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter(
                "repository", str, description="Only images of this repository, e.g. team/app."
            ),
        ]
    )
)
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
        # The few fields an image shows of each promotion, as rows: a page of images can
        # have hundreds of promotions, and three model instances each cost more than the query.
        for promotion in visible.values(
            "id",
            "digest",
            "tags",
            "status",
            "finished_at",
            source=F("source_environment__slug"),
            target=F("target_environment__slug"),
            actor_name=F("actor__username"),
        ):
            promotions[promotion["digest"]].append(promotion)
        return self.get_serializer_context() | {"tags": tags, "promotions": promotions}

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        serializer = ImageSerializer(page, many=True, context=self._context_for(page))
        return self.get_paginated_response(serializer.data)

    def retrieve(self, request, *args, **kwargs):
        image = self.get_object()
        return Response(ImageSerializer(image, context=self._context_for([image])).data)
