"""A serializer whose fields are built once per class answers exactly as DRF's
ModelSerializer, and every instance gets fields of its own (portal/api/serializers.py)."""

from __future__ import annotations

import copy

from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework import serializers

from environments.models import Environment
from registry.api.serializers import PromotionSerializer
from registry.models import Promotion, Registry

# PromotionSerializer's declaration on DRF's own class.
PlainPromotionSerializer = type(
    "PlainPromotionSerializer",
    (serializers.ModelSerializer,),
    {"Meta": PromotionSerializer.Meta, **copy.deepcopy(PromotionSerializer._declared_fields)},
)


def promotion(pk: int, version: str) -> Promotion:
    registry = Registry(pk=1, name="local", url="http://127.0.0.1:5000")
    now = timezone.now()
    return Promotion(
        pk=pk, digest="sha256:" + "a" * 64,
        source_environment=Environment(pk=1, name="Test", slug="test"),
        target_environment=Environment(pk=2, name="Ops", slug="ops"),
        source_registry=registry, target_registry=registry,
        source_repository="team/app", target_repository="team/app",
        tags=["qa-passed", version], version=version, note="", status="succeeded",
        actor=get_user_model()(pk=3, username="qa"),
        log=[{"at": now.isoformat(), "message": "tagged"}], started_at=now, finished_at=now,
    )  # fmt: skip


def test_answers_as_a_model_serializer_does():
    for pk, version in ((5, "1.0"), (6, "2.0")):
        item = promotion(pk, version)
        assert PromotionSerializer(item).data == PlainPromotionSerializer(item).data


def test_every_instance_has_fields_of_its_own():
    first, second = (
        PromotionSerializer(promotion(5, "1.0")),
        PromotionSerializer(promotion(6, "2.0")),
    )
    assert list(first.fields) == list(PlainPromotionSerializer().fields)
    for name in first.fields:
        assert first.fields[name] is not second.fields[name]
        assert first.fields[name].parent is first and second.fields[name].parent is second
    assert first.data["version"] == "1.0" and second.data["version"] == "2.0"
