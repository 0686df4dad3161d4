"""Sign-off and promotion through the API, against the real registry and engine."""

import os
import time
import uuid

import docker
import pytest
from django.urls import reverse

from environments import actions, engine
from portal.models import AuditEvent
from registry.client import RegistryClient
from registry.models import Promotion, Registry, Tag
from tests.registries import push_image

pytestmark = [pytest.mark.django_db, pytest.mark.integration]


@pytest.fixture
def local_registry(registry_url, environments, admin_user):
    """The stack's registry, used by every environment; Ops takes a moving tag and a
    required version, as a release would."""
    registry = Registry.objects.create(name="local", url=registry_url, verify_tls=False)
    for slug in ("dev", "test", "ops"):
        actions.update_environment(admin_user, environments[slug], registry=registry)
    actions.update_environment(
        admin_user, environments["ops"], promotion_tag="qa-passed", require_version=True
    )
    return registry


@pytest.fixture
def running_in_test(docker_host, local_registry):
    """The stack's test image, pulled from the registry by digest and running in Test:
    the evidence that this digest was deployed there."""
    client = docker.DockerClient(base_url=docker_host, version="auto")
    repository = "demo/app"
    digest = RegistryClient(local_registry.url).resolve(repository, "latest")
    reference = f"{local_registry.host}/{repository}@{digest}"
    client.images.pull(reference)
    container = client.containers.run(
        reference, ["sleep", "300"], detach=True, network_mode="none",
        labels={engine.LABEL_ENVIRONMENT: "test", "berth.test": uuid.uuid4().hex},
    )  # fmt: skip
    yield repository, digest
    container.remove(force=True)
    client.close()


def _sign_off(client, environments, repository=None, digest=None, **extra):
    body = {
        "source_environment": environments["test"].pk,
        "repository": repository,
        "digest": digest,
    }
    return client.post(reverse("promotion-list"), body | extra, format="json")


def _version() -> str:
    return f"1.{uuid.uuid4().int % 10**6}.{uuid.uuid4().int % 10**6}"


def test_a_tester_signs_off_the_digest_running_in_test(
    running_in_test, environments, api_for, local_registry
):
    repository, digest = running_in_test
    version = _version()
    response = _sign_off(
        api_for("tester"), environments, repository, digest, version=version, note="all green"
    )
    assert response.status_code == 201, response.data
    assert response.data["status"] == "succeeded"
    assert response.data["target_environment"] == "ops"
    assert sorted(response.data["tags"]) == sorted(["qa-passed", version])
    registry = RegistryClient(local_registry.url)
    assert registry.resolve(repository, "qa-passed") == digest
    assert registry.resolve(repository, version) == digest
    promotion = Promotion.objects.get()
    assert (promotion.actor.username, promotion.note) == ("tester", "all green")
    assert promotion.finished_at >= promotion.started_at
    assert Tag.objects.get(repository__name=repository, name=version).digest == digest
    event = AuditEvent.objects.get(action="promotion.succeeded")
    assert event.environment == environments["test"] and event.details["digest"] == digest


def test_a_digest_already_signed_off_is_not_signed_off_again(
    running_in_test, environments, api_for
):
    repository, digest = running_in_test
    version = _version()
    first = _sign_off(api_for("tester"), environments, repository, digest, version=version)
    assert first.status_code == 201
    again = _sign_off(api_for("tester"), environments, repository, digest, version=version)
    assert again.status_code == 400
    assert "already signed off into Ops" in str(again.data)
    assert Promotion.objects.count() == 1


def test_a_release_version_cannot_be_moved_to_another_digest(
    running_in_test, environments, api_for, local_registry
):
    repository, digest = running_in_test
    version = _version()
    assert (
        _sign_off(api_for("tester"), environments, repository, digest, version=version).status_code
        == 201
    )
    other = push_image(RegistryClient(local_registry.url), repository, layers=[os.urandom(64)])
    Promotion.objects.create(  # history: the other digest was promoted into Test earlier
        digest=other.digest, source_environment=environments["dev"], target_environment=environments["test"],
        source_registry=local_registry, source_repository=repository, target_registry=local_registry,
        target_repository=repository, status=Promotion.Status.SUCCEEDED,
    )  # fmt: skip
    response = _sign_off(api_for("tester"), environments, repository, other.digest, version=version)
    assert response.status_code == 400
    assert "release tags are immutable" in str(response.data["version"])
    assert RegistryClient(local_registry.url).resolve(repository, version) == digest
    assert (
        Promotion.objects.filter(
            digest=other.digest, target_environment=environments["ops"]
        ).count()
        == 0
    )


def _finished(api, promotion_id: int, timeout: float = 30) -> dict:
    """The promotion's record once its task has finished it."""
    deadline = time.monotonic() + timeout
    while True:
        data = api.get(reverse("promotion-detail", args=[promotion_id])).data
        if data["status"] != "running" or time.monotonic() > deadline:
            return data
        time.sleep(0.2)


@pytest.mark.django_db(transaction=True)
def test_a_promotion_into_another_repository_mounts_the_blobs(
    running_in_test, environments, api_for, admin_user, local_registry, celery_worker_thread
):
    actions.update_environment(
        admin_user, environments["ops"], repository_template="prod/{repository}"
    )
    repository, digest = running_in_test
    response = _sign_off(api_for("tester"), environments, repository, digest, version=_version())
    # Blobs move: the record is created running and a task copies, then retags.
    assert response.status_code == 202, response.data
    assert response.data["target_repository"] == "prod/demo/app"
    data = _finished(api_for("tester"), response.data["id"])
    assert data["status"] == "succeeded", data
    assert any("blobs mounted" in step["message"] for step in data["log"])
    assert RegistryClient(local_registry.url).resolve("prod/demo/app", "qa-passed") == digest


def test_a_digest_that_never_ran_in_test_cannot_leave_it(local_registry, environments, api_for):
    manifest = push_image(RegistryClient(local_registry.url), "demo/unrun", layers=[os.urandom(16)])
    response = _sign_off(
        api_for("tester"), environments, "demo/unrun", manifest.digest, version=_version()
    )
    assert response.status_code == 400
    assert "was never deployed to or promoted into Test" in str(response.data)
    assert not Promotion.objects.exists()


def test_promotion_goes_one_step_at_a_time(running_in_test, environments, api_for):
    repository, digest = running_in_test
    response = api_for("tester").post(
        reverse("promotion-list"),
        {"source_environment": environments["dev"].pk, "target_environment": environments["ops"].pk,
         "repository": repository, "digest": digest},
        format="json",
    )  # fmt: skip
    assert response.status_code == 403  # testers may not promote out of Dev at all
    client = api_for("tester")
    client.force_authenticate(environments["dev"].grants.first().granted_by)  # the admin
    response = client.post(
        reverse("promotion-list"),
        {"source_environment": environments["dev"].pk, "target_environment": environments["ops"].pk,
         "repository": repository, "digest": digest},
        format="json",
    )  # fmt: skip
    assert response.status_code == 400
    assert "from Dev only to Test" in str(response.data["target"])


@pytest.mark.parametrize(
    # Test is as missing to the stranger as an environment that does not exist (400).
    "persona,status",
    [("developer", 403), ("operator", 403), ("stranger", 400), ("anonymous", 401)],
)
def test_only_those_who_may_sign_off_in_test_can(
    running_in_test, environments, api_for, persona, status
):
    repository, digest = running_in_test
    response = _sign_off(api_for(persona), environments, repository, digest, version=_version())
    assert response.status_code == status
    assert not Promotion.objects.exists()


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("repository", "Demo/App", "not a valid repository name"),
        ("digest", "sha256:abc", "is not a sha256 digest"),
        ("version", "-1.0", "is not a valid tag"),
        ("version", "", "Ops needs a version tag"),
    ],
)
def test_bad_input_is_refused_with_the_field_named(
    running_in_test, environments, api_for, field, value, message
):
    repository, digest = running_in_test
    body = {"repository": repository, "digest": digest, "version": _version()} | {field: value}
    response = _sign_off(api_for("tester"), environments, **body)
    assert response.status_code == 400
    assert message in str(response.data[field])
    assert not Promotion.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_target_registry_fails_cleanly(
    running_in_test, environments, api_for, admin_user, celery_worker_thread
):
    gone = Registry.objects.create(name="gone", url="http://127.0.0.1:1")
    actions.update_environment(admin_user, environments["ops"], registry=gone)
    repository, digest = running_in_test
    response = _sign_off(api_for("tester"), environments, repository, digest, version=_version())
    assert response.status_code == 400
    assert "Registry gone: could not look up" in str(response.data) and "cannot connect" in str(
        response.data
    )
    assert not Promotion.objects.exists()

    actions.update_environment(admin_user, environments["ops"], require_version=False)
    response = _sign_off(api_for("tester"), environments, repository, digest)
    assert response.status_code == 202  # another registry: the copy runs as a task
    data = _finished(api_for("tester"), response.data["id"])
    assert data["status"] == "failed"
    assert "Registry gone" in data["error"]
    assert not Promotion.objects.filter(status="succeeded").exists()
