"""The demo seed: environments, users and the "hello" service with a config in each
environment, ready to deploy; a second run changes nothing."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from environments.models import Environment, Service, ServiceConfig

pytestmark = pytest.mark.django_db


def test_the_demo_seeds_a_service_ready_to_deploy_and_seeding_again_changes_nothing():
    call_command("seed_demo", stdout=io.StringIO(), stderr=io.StringIO())
    out = io.StringIO()
    call_command("seed_demo", stdout=out, stderr=io.StringIO())
    assert "Created service" not in out.getvalue()
    hello = Service.objects.get(name="hello")
    assert hello.repository == "demo/app"
    configs = {c.environment.slug: c.document for c in ServiceConfig.objects.filter(service=hello)}
    assert set(configs) == set(Environment.objects.values_list("slug", flat=True))
    assert configs["dev"]["entry_points"] == [{"port": 18080, "host": ""}]
    assert configs["ops"]["replicas"] == 1 and not configs["ops"]["entry_points"]
    assert ServiceConfig.objects.filter(service=hello).count() == 3
