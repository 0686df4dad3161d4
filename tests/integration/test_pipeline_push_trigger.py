"""A push to a real registry whose tag matches a pipeline's registry_push pattern starts a
run of that digest, through the registry's own notification to a live Berth; the run
records the trigger: the tag, the digest and who pushed. Other tags start nothing."""

from __future__ import annotations

import docker
import pytest

from pipelines.actions import create_pipeline
from pipelines.models import PipelineRun
from registry.client import RegistryClient
from registry.models import Tag
from tests import stack
from tests.integration import test_inventory
from tests.integration.test_inventory import _wait_for

notifying_registry = test_inventory.notifying_registry  # the fixture

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

TEXT = """\
triggers: {registry_push: {tag: "release-*"}}
stages:
  - {name: smoke, kind: test, environment: dev, command: "echo pushed-and-tested"}
"""


def test_a_matching_push_starts_a_run_that_records_the_push(
    notifying_registry, docker_host, celery_worker_thread, environments, admin_user, client
):
    from environments.models import Service

    registry, target = notifying_registry
    service = Service.objects.create(name="pushed", registry=registry, repository="notify/trig")
    pipeline, _ = create_pipeline(admin_user, service, "on-push", TEXT)

    engine = docker.DockerClient(base_url=docker_host, version="auto")
    image = engine.images.get(stack.TEST_IMAGE)
    reference = f"{registry.host}/notify/trig"
    try:
        for tag in ("other-1", "release-7"):
            image.tag(reference, tag)
            for line in engine.images.push(reference, tag, stream=True, decode=True):
                assert "error" not in line, line
        started = _wait_for(lambda: PipelineRun.objects.filter(pipeline=pipeline).exists(), 30)
        assert started, (target.workdir / "registry.log").read_text()[-3000:]
        run = PipelineRun.objects.get(pipeline=pipeline)
        assert _wait_for(lambda: PipelineRun.objects.get(pk=run.pk).status == "succeeded", 60)
    finally:
        for tag in ("other-1", "release-7"):
            engine.images.remove(f"{reference}:{tag}")
        engine.close()

    digest = RegistryClient(target.url).resolve("notify/trig", "release-7")
    run.refresh_from_db()
    assert run.digest == digest and run.actor is None
    assert run.trigger["kind"] == "registry_push"
    assert run.trigger["tag"] == "release-7" and run.trigger["digest"] == digest
    assert run.trigger["pushed_by"] == "anonymous"  # the registry authenticates nobody here
    assert run.trigger["push_addr"].startswith("127.0.0.1")
    assert "docker" in run.trigger["push_useragent"]
    assert "pushed-and-tested" in run.stages.get(name="smoke").log
    # The other tag was recorded too, but started nothing: one run only.
    assert Tag.objects.filter(repository__name="notify/trig", name="other-1").exists()
    assert PipelineRun.objects.filter(pipeline=pipeline).count() == 1
    client.force_login(admin_user)
    page = client.get(f"/pipeline-runs/{run.pk}/").content.decode()
    assert "registry_push of <code>release-7</code> by anonymous from 127.0.0.1" in page
