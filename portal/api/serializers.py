from __future__ import annotations

import copy

from rest_framework import serializers

from portal.models import ApiToken, AuditEvent

__all__ = [
    "ApiTokenSerializer",
    "AuditEventSerializer",
    "FieldsBuiltOnceModelSerializer",
    "NewApiTokenSerializer",
    "ObtainTokenSerializer",
]


class FieldsBuiltOnceModelSerializer(serializers.ModelSerializer):
    """A ModelSerializer that reads its model once per class, not once per instance.

    DRF builds a ModelSerializer's fields anew for every instance, from the model's
    metadata: for a promotion that was 0.3 ms of the 0.4 ms its answer took to
    serialise. Here the first instance builds them and later ones get a copy, as
    declared fields always are (``copy.deepcopy``, which re-creates each field from
    its arguments). Only for serializers whose fields do not depend on the request or
    the context: ``get_fields`` must give every instance the same fields.
    """

    _built_fields: dict | None = None

    def get_fields(self):
        cls = type(self)
        if cls.__dict__.get("_built_fields") is None:  # this class's own, not a parent's
            cls._built_fields = super().get_fields()
        return copy.deepcopy(cls._built_fields)


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "created_at",
            "actor",
            "actor_name",
            "action",
            "target_type",
            "target_id",
            "target_repr",
            "environment",
            "environment_name",
            "source_ip",
            "details",
        ]
        read_only_fields = fields


class ApiTokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "last_used_at"]
        read_only_fields = ["id", "prefix", "created_at", "last_used_at"]


class NewApiTokenSerializer(ApiTokenSerializer):
    token = serializers.CharField(read_only=True, help_text="The secret; shown only once.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]


class ObtainTokenSerializer(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"}, write_only=True)
    name = serializers.CharField(required=False, default="API token", max_length=100)
