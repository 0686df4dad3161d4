"""The demo seed: environments, users and the "hello" service with a config in each
environment, ready to deploy; a second run changes nothing."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from environments.models import Environment, Service, ServiceConfig

pytestmark = pytest.mark.django_db


def test_the_demo_seeds_a_service_ready_to_deploy_and_seeding_again_changes_nothing(settings):
    # Entry points as records only: whether this machine has 18080 free is not the point
    # here (the next test is about a taken port).
    settings.PROXY_MODE = "off"
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


def test_an_entry_port_taken_on_this_machine_leaves_the_demo_without_it(monkeypatch):
    import socket

    from portal.management.commands import seed_demo

    with socket.socket() as program:
        program.bind(("127.0.0.1", 0))
        program.listen()
        taken = program.getsockname()[1]
        ports = dict(seed_demo.HELLO_PORTS, dev=(18001, taken))
        monkeypatch.setattr(seed_demo, "HELLO_PORTS", ports)
        err = io.StringIO()
        call_command("seed_demo", stdout=io.StringIO(), stderr=err)
    assert f"hello in Dev has no entry point: Port {taken} is in use" in err.getvalue()
    dev = ServiceConfig.objects.get(service__name="hello", environment__slug="dev")
    assert dev.document["entry_points"] == []
