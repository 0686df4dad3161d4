"""Related fields that resolve through the requesting user's restricted queryset.

An environment, service or registry named in a body or a query is looked up among what
the user can see (``Model.objects.restrict(user, action)``), so one they cannot see gets
exactly the answer of one that does not exist: the same status, the same message.
"""

from __future__ import annotations

from rest_framework import serializers

__all__ = ["RestrictedPrimaryKeyRelatedField", "RestrictedSlugRelatedField"]


class RestrictedRelatedMixin:
    """``queryset.restrict(user, restrict_action)`` for the request in the context."""

    def __init__(self, *args, restrict_action: str = "view_environment", **kwargs):
        self.restrict_action = restrict_action
        super().__init__(*args, **kwargs)

    def get_queryset(self):
        queryset = super().get_queryset()
        request = self.context.get("request")
        return queryset.restrict(getattr(request, "user", None), self.restrict_action)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, str | int):
            self.fail("incorrect_type", data_type=type(data).__name__)
        return super().to_internal_value(data)


class RestrictedSlugRelatedField(RestrictedRelatedMixin, serializers.SlugRelatedField):
    default_error_messages = {
        "does_not_exist": "There is no {slug_name} {value!r} that you can see.",
        "invalid": "Invalid value.",
        "incorrect_type": "Expected a string, got {data_type}.",
    }


class RestrictedPrimaryKeyRelatedField(RestrictedRelatedMixin, serializers.PrimaryKeyRelatedField):
    default_error_messages = {
        "does_not_exist": "There is no object {pk_value!r} that you can see.",
        "incorrect_type": "Expected an id, got {data_type}.",
    }
