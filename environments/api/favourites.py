"""REST endpoint for one's own favourites (starred environments and services): thin over
``environments.actions.star`` / ``unstar``."""

from __future__ import annotations

from django.db.models import Q
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from environments import access, actions
from environments.models import Favourite, Service


class FavouriteSerializer(serializers.ModelSerializer):
    environment = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    service = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)

    class Meta:
        model = Favourite
        fields = ["id", "environment", "service", "created_at"]
        read_only_fields = fields


class StarSerializer(serializers.Serializer):
    environment = serializers.CharField(
        required=False, max_length=100, help_text="The slug of an environment you can see."
    )
    service = serializers.CharField(
        required=False, max_length=100, help_text="The name of a service you can see."
    )

    def validate(self, attrs):
        if len(attrs) != 1:
            raise serializers.ValidationError("Give either environment or service, not both.")
        return attrs


class FavouriteViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Your own favourites, shown first on your dashboard: list, star (POST an
    ``environment`` slug or a ``service`` name: one you cannot see answers 404, as a
    missing one), unstar (DELETE). Stars of objects you no longer see are not listed."""

    serializer_class = FavouriteSerializer
    queryset = Favourite.objects.all()

    def get_queryset(self):
        user = self.request.user
        return (
            Favourite.objects.of(user)
            .filter(
                Q(environment__in=access.visible_environments(user))
                | Q(service__in=Service.objects.restrict(user))
            )
            .select_related("environment", "service")
        )

    @extend_schema(request=StarSerializer, responses={201: FavouriteSerializer})
    def create(self, request, *args, **kwargs):
        form = StarSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        favourite = actions.star(request.user, **form.validated_data)
        return Response(FavouriteSerializer(favourite).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        actions.unstar(self.request.user, instance.pk)
