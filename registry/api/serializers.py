from __future__ import annotations

from rest_framework import serializers

from environments.models import Environment
from portal.api.fields import RestrictedPrimaryKeyRelatedField
from portal.api.serializers import FieldsBuiltOnceModelSerializer
from registry.models import Image, Promotion, Registry


class PromotionSerializer(FieldsBuiltOnceModelSerializer):
    source_environment = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    target_environment = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    source_registry = serializers.SlugRelatedField(slug_field="name", read_only=True)
    target_registry = serializers.SlugRelatedField(slug_field="name", read_only=True)
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    target_reference = serializers.CharField(read_only=True)
    target_environment_name = serializers.CharField(
        source="target_environment.name", read_only=True
    )

    class Meta:
        model = Promotion
        fields = [
            "id", "digest", "source_environment", "target_environment", "target_environment_name",
            "source_registry",
            "source_repository", "target_registry", "target_repository", "target_reference",
            "tags", "version", "note", "actor", "status", "error", "log", "started_at",
            "finished_at",
        ]  # fmt: skip
        read_only_fields = fields


class PromoteSerializer(serializers.Serializer):
    """A sign-off: promote ``repository@digest`` from an environment to the next one."""

    source_environment = RestrictedPrimaryKeyRelatedField(
        queryset=Environment.objects.select_related("registry")  # promote() reads it
    )
    target_environment = RestrictedPrimaryKeyRelatedField(
        queryset=Environment.objects.all(), required=False, allow_null=True
    )
    repository = serializers.CharField(max_length=255)
    digest = serializers.CharField(max_length=71)
    version = serializers.CharField(max_length=128, required=False, allow_blank=True, default="")
    note = serializers.CharField(required=False, allow_blank=True, default="")


class RegistrySerializer(serializers.ModelSerializer):
    """A registry. Secrets are write-only: the API says whether they are set, never what."""

    password = serializers.CharField(write_only=True, required=False, allow_blank=True)
    webhook_secret = serializers.CharField(write_only=True, required=False, allow_blank=True)
    has_password = serializers.SerializerMethodField()
    has_webhook_secret = serializers.SerializerMethodField()

    class Meta:
        model = Registry
        fields = [
            "id", "name", "url", "username", "password", "has_password", "verify_tls",
            "webhook_secret", "has_webhook_secret", "created_at",
        ]  # fmt: skip
        read_only_fields = ["created_at"]

    def get_has_password(self, registry) -> bool:
        return bool(registry.password)

    def get_has_webhook_secret(self, registry) -> bool:
        return bool(registry.webhook_secret)


class ImageSerializer(serializers.ModelSerializer):
    registry = serializers.CharField(source="repository.registry.name", read_only=True)
    repository = serializers.CharField(source="repository.name", read_only=True)
    reference = serializers.SerializerMethodField()
    tags = serializers.SerializerMethodField()
    promotions = serializers.SerializerMethodField()

    class Meta:
        model = Image
        fields = [
            "id", "registry", "repository", "digest", "reference", "media_type", "size",
            "architectures", "created", "tags", "promotions", "first_seen_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_reference(self, image) -> str:
        return f"{image.repository.registry.host}/{image.repository.name}@{image.digest}"

    def get_tags(self, image) -> list[str]:
        return self.context["tags"].get((image.repository_id, image.digest), [])

    def get_promotions(self, image) -> list[dict]:
        return [
            {
                "id": p["id"],
                "from": p["source"],
                "to": p["target"],
                "tags": p["tags"],
                "actor": p["actor_name"],
                "status": p["status"],
                "finished_at": p["finished_at"],
            }
            for p in self.context["promotions"].get(image.digest, [])
        ]
