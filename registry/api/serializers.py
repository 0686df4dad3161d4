from __future__ import annotations

from rest_framework import serializers

from environments.models import Environment
from registry.models import Promotion


class PromotionSerializer(serializers.ModelSerializer):
    source_environment = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    target_environment = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    source_registry = serializers.SlugRelatedField(slug_field="name", read_only=True)
    target_registry = serializers.SlugRelatedField(slug_field="name", read_only=True)
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True)
    target_reference = serializers.CharField(read_only=True)

    class Meta:
        model = Promotion
        fields = [
            "id", "digest", "source_environment", "target_environment", "source_registry",
            "source_repository", "target_registry", "target_repository", "target_reference",
            "tags", "version", "note", "actor", "status", "error", "log", "started_at",
            "finished_at",
        ]  # fmt: skip
        read_only_fields = fields


class PromoteSerializer(serializers.Serializer):
    """A sign-off: promote ``repository@digest`` from an environment to the next one."""

    source_environment = serializers.PrimaryKeyRelatedField(queryset=Environment.objects.all())
    target_environment = serializers.PrimaryKeyRelatedField(
        queryset=Environment.objects.all(), required=False, allow_null=True
    )
    repository = serializers.CharField(max_length=255)
    digest = serializers.CharField(max_length=71)
    version = serializers.CharField(max_length=128, required=False, allow_blank=True, default="")
    note = serializers.CharField(required=False, allow_blank=True, default="")
