"""Images: refreshed from the registry, and recorded from the registry's own push
notifications delivered to a live Berth server."""

import os
import time
import uuid

import docker
import pytest
import requests
from django.urls import reverse

from environments import actions
from registry.client import RegistryClient
from registry.inventory import refresh_repository
from registry.models import Image, Registry, Tag
from tests import stack
from tests.registries import LocalRegistry, push_image, push_index

pytestmark = pytest.mark.integration


@pytest.fixture
def local(db, registry_url, environments, admin_user):
    registry = Registry.objects.create(name="local", url=registry_url, verify_tls=False)
    actions.update_environment(admin_user, environments["test"], registry=registry)
    return registry


@pytest.mark.django_db
def test_a_refresh_records_tags_digests_sizes_and_architectures(local, api_for):
    client = RegistryClient(local.url)
    repository = f"inv/r{uuid.uuid4().hex[:8]}"
    amd64 = push_image(client, repository, layers=[os.urandom(1000), os.urandom(500)], arch="amd64")
    arm64 = push_image(client, repository, layers=[os.urandom(300)], arch="arm64", oci=True)
    index = push_index(client, repository, [(amd64, "amd64"), (arm64, "arm64")])
    client.put_manifest(repository, "1.0", amd64)
    client.put_manifest(repository, "multi", index)

    refresh_repository(local, repository)
    assert {t.name: t.digest for t in Tag.objects.filter(repository__name=repository)} == {
        "1.0": amd64.digest,
        "multi": index.digest,
    }
    image = Image.objects.get(digest=amd64.digest)
    assert image.architectures == ["amd64"] and image.size >= 1500
    assert image.created.year == 2026
    assert Image.objects.get(digest=index.digest).architectures == ["amd64", "arm64"]

    # A tag moved in the registry is moved here on the next refresh; a deleted one goes.
    client.put_manifest(repository, "1.0", arm64)
    refresh_repository(local, repository)
    assert Tag.objects.get(repository__name=repository, name="1.0").digest == arm64.digest

    response = api_for("tester").get(reverse("image-list"), {"repository": repository})
    rows = {row["digest"]: row for row in response.data["results"]}
    assert rows[arm64.digest]["tags"] == ["1.0"]
    assert rows[index.digest]["reference"] == f"{local.host}/{repository}@{index.digest}"
    assert api_for("stranger").get(reverse("image-list")).data["count"] == 0


@pytest.mark.django_db
def test_the_registries_api_never_returns_secrets(local, api_for, admin_user):
    client = api_for("tester")
    client.force_authenticate(admin_user)
    response = client.post(
        reverse("registry-list"),
        {"name": "harbor", "url": "https://harbor.invalid", "username": "robot", "password": "pw-123",
         "webhook_secret": "hook-456"},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.data
    assert "pw-123" not in str(response.data) and "hook-456" not in str(response.data)
    assert response.data["has_password"] is True
    stored = Registry.objects.get(name="harbor")
    assert stored.password == "pw-123"  # decrypted on read
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT password FROM registry_registry WHERE name = 'harbor'")
        assert "pw-123" not in cursor.fetchone()[0]
    from portal.models import AuditEvent

    assert "pw-123" not in str(list(AuditEvent.objects.values_list("details", flat=True)))


@pytest.fixture
def notifying_registry(tmp_path, live_server, registry_url):
    """A real registry whose notifications go to the live Berth server."""
    registry = Registry.objects.create(
        name="notifying", url="http://placeholder", webhook_secret="s3cret-hook"
    )
    target = LocalRegistry(
        tmp_path,
        notify={
            "name": "berth",
            "url": f"{live_server.url}/hooks/registry/{registry.pk}/",
            "headers": {"Authorization": ["Bearer s3cret-hook"]},
            "timeout": "2s",
            "threshold": 3,
            "backoff": "1s",
        },
    ).start()
    registry.url = target.url
    registry.save()
    yield registry, target
    target.stop()


def _wait_for(condition, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.django_db(transaction=True)
def test_pushes_notified_by_the_registry_are_recorded_and_own_retags_skipped(
    notifying_registry, docker_host, celery_worker_thread
):
    registry, target = notifying_registry
    berth_client = RegistryClient(target.url)
    own = push_image(berth_client, "notify/app", layers=[os.urandom(64)])
    berth_client.put_manifest("notify/app", "berth-own", own)

    engine = docker.DockerClient(base_url=docker_host, version="auto")
    image = engine.images.get(stack.TEST_IMAGE)
    reference = f"{registry.host}/notify/app"
    image.tag(reference, "v1")
    try:
        for line in engine.images.push(reference, "v1", stream=True, decode=True):
            assert "error" not in line, line
        recorded = _wait_for(
            lambda: Tag.objects.filter(repository__name="notify/app", name="v1").exists()
        )
        assert recorded, (target.workdir / "registry.log").read_text()[-3000:]
    finally:
        engine.images.remove(f"{reference}:v1")
        engine.close()
    tag = Tag.objects.get(repository__name="notify/app", name="v1")
    assert tag.digest == RegistryClient(target.url).resolve("notify/app", "v1")
    # The image's metadata needs its manifest: a task reads it, off the webhook's request.
    assert _wait_for(lambda: Image.objects.filter(digest=tag.digest).exists())
    assert not Tag.objects.filter(name="berth-own").exists()


@pytest.mark.django_db(transaction=True)
def test_a_notification_with_a_wrong_secret_is_refused(live_server, db):
    registry = Registry.objects.create(name="r", url="http://127.0.0.1:1", webhook_secret="right")
    url = f"{live_server.url}/hooks/registry/{registry.pk}/"
    envelope = {
        "events": [
            {"action": "push", "target": {"repository": "x", "digest": "sha256:" + "0" * 64}}
        ]
    }
    headers = {"Content-Type": "application/vnd.docker.distribution.events.v2+json"}
    assert (
        requests.post(
            url, json=envelope, headers=headers | {"Authorization": "Bearer wrong"}, timeout=5
        ).status_code
        == 401
    )
    assert requests.post(url, json=envelope, headers=headers, timeout=5).status_code == 401
    assert not Tag.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_asking_again_while_a_refresh_waits_queues_nothing_more(local, api_for):
    """Eight clicks are one refresh in the queue, not eight walks of the whole registry
    ahead of everyone's deployments; once the worker starts it, one more may queue."""
    from registry.tasks import refresh_registry_task

    tester = api_for("tester")
    url = reverse("registry-refresh", args=[local.pk])
    answers = [tester.post(url).data for _ in range(8)]
    assert [a["queued"] for a in answers] == [True] + [False] * 7
    assert "already queued" in answers[1]["detail"]
    refresh_registry_task(local.pk)  # what the worker does with the one queued
    local.refresh_from_db()
    assert local.refresh_queued_at is None
    assert tester.post(url).data["queued"] is True
