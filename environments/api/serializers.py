from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from rest_framework import serializers

from environments import access
from environments.engine import validate_endpoint_url
from environments.models import Environment, RoleGrant
from environments.roles import ACTIONS, Role
from portal.api.fields import RestrictedPrimaryKeyRelatedField
from registry.models import Registry


class EnvironmentSerializer(serializers.ModelSerializer):
    """An environment. The TLS client key is write-only: it is never returned."""

    endpoint_state = serializers.JSONField(read_only=True)
    allowed_actions = serializers.SerializerMethodField()
    tls_client_key = serializers.CharField(
        write_only=True, required=False, allow_blank=True, style={"input_type": "password"}
    )
    registry = RestrictedPrimaryKeyRelatedField(
        queryset=Registry.objects.all(), required=False, allow_null=True
    )

    class Meta:
        model = Environment
        fields = [
            "id",
            *Environment.EDITABLE_FIELDS,
            "endpoint_state",
            "endpoint_checked_at",
            "allowed_actions",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["endpoint_checked_at", "created_at", "updated_at"]
        # Uniqueness is the model's to check, in the domain function after the rule that
        # only administrators change a slug: a manager asking for slug "ops" gets that
        # 403, not "already exists" (which told them of an environment out of sight).
        extra_kwargs = {"name": {"validators": []}, "slug": {"validators": []}}

    def get_allowed_actions(self, environment) -> list[str]:
        actions = self.context.get("actions_by_environment")
        if actions is None:
            return sorted(access.allowed_actions(self.context["request"].user, environment))
        return sorted(actions.get(environment.pk, ()))

    def validate_endpoint_url(self, value: str) -> str:
        try:
            return validate_endpoint_url(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None


class ContainerSerializer(serializers.Serializer):
    id = serializers.CharField()
    short_id = serializers.CharField()
    name = serializers.CharField()
    image = serializers.CharField()
    image_id = serializers.CharField()
    image_digest = serializers.CharField()
    state = serializers.CharField()
    status = serializers.CharField()
    health = serializers.CharField()
    created = serializers.DateTimeField()
    ports = serializers.ListField(child=serializers.DictField())
    labels = serializers.DictField(child=serializers.CharField())


class EndpointStateSerializer(serializers.Serializer):
    reachable = serializers.BooleanField()
    checked_at = serializers.DateTimeField(allow_null=True, help_text="null: never probed yet.")
    error = serializers.CharField()
    warning = serializers.CharField()
    engine_version = serializers.CharField()
    api_version = serializers.CharField()
    operating_system = serializers.CharField()
    swarm_active = serializers.BooleanField()
    swarm_manager = serializers.BooleanField()
    nodes = serializers.IntegerField()
    cpus = serializers.IntegerField()
    memory_bytes = serializers.IntegerField()
    containers_running = serializers.IntegerField()
    containers_total = serializers.IntegerField()


class RoleGrantSerializer(serializers.ModelSerializer):
    """A role given to a user or a group in an environment (by username / group name)."""

    environment = RestrictedPrimaryKeyRelatedField(queryset=Environment.objects.all())
    user = serializers.SlugRelatedField(
        slug_field="username",
        queryset=get_user_model().objects.filter(is_active=True),
        required=False,
        allow_null=True,
    )
    group = serializers.SlugRelatedField(
        slug_field="name", queryset=Group.objects.all(), required=False, allow_null=True
    )
    role = serializers.ChoiceField(choices=Role.choices)
    actions = serializers.ListField(
        child=serializers.ChoiceField(choices=ACTIONS),
        required=False,
        help_text="For the custom role: the exact actions. Ignored for presets.",
    )
    granted_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = RoleGrant
        fields = [
            "id",
            "environment",
            "user",
            "group",
            "role",
            "actions",
            "granted_by",
            "created_at",
        ]
        read_only_fields = ["granted_by", "created_at"]
        validators: list = []  # uniqueness is an upsert in grant_role, not an error

    def validate(self, attrs):
        if bool(attrs.get("user")) == bool(attrs.get("group")):
            raise serializers.ValidationError("Give exactly one of user or group.")
        return attrs
