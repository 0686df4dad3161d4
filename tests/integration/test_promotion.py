"""Sign-off and promotion through the API, against the real registry and engine."""

import os
import threading
import time
import uuid

import docker
import pytest
from django.db import connection
from django.urls import reverse

from environments import actions, engine
from portal.models import AuditEvent
from registry.client import RegistryClient
from registry.models import Promotion, Registry, Tag
from tests.registries import push_image
from tests.registry_gate import RegistryGate

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


# --- under the tags' locks, against the real registry behind a gate ---------------------


@pytest.fixture
def gated(registry_url, environments, admin_user):
    """Every environment uses the stack's registry through a gate that can fail or hold
    chosen requests; each test works in a repository of its own."""
    gate = RegistryGate(registry_url).start()
    registry = Registry.objects.create(name="gated", url=gate.url, verify_tls=False)
    for slug in ("dev", "test", "ops"):
        actions.update_environment(admin_user, environments[slug], registry=registry)
    actions.update_environment(
        admin_user, environments["ops"], promotion_tag="qa-passed", require_version=True
    )
    yield gate, registry, RegistryClient(registry_url), f"gate/{uuid.uuid4().hex[:8]}"
    gate.stop()


def _ran_in_test(environments, registry, repository: str, digest: str) -> None:
    """The evidence that ``digest`` may leave Test: it was promoted into it from Dev."""
    Promotion.objects.create(
        digest=digest, source_environment=environments["dev"], target_environment=environments["test"],
        source_registry=registry, source_repository=repository, target_registry=registry,
        target_repository=repository, status=Promotion.Status.SUCCEEDED,
    )  # fmt: skip


def test_a_failed_version_write_puts_the_moving_tag_back(gated, environments, api_for):
    gate, registry, real, repository = gated
    before = push_image(real, repository, layers=[os.urandom(64)])
    image = push_image(real, repository, layers=[os.urandom(64)])
    real.put_manifest(repository, "qa-passed", before)
    _ran_in_test(environments, registry, repository, image.digest)
    version = _version()
    gate.fail("PUT", f"/v2/{repository}/manifests/{version}$")

    response = _sign_off(api_for("tester"), environments, repository, image.digest, version=version)

    assert response.status_code == 424, response.data
    assert response.data["status"] == "failed" and "HTTP 500" in response.data["error"]
    steps = [step["message"] for step in response.data["log"]]
    assert any(step.startswith("tagged 127.0.0.1") and ":qa-passed" in step for step in steps)
    assert f"restored qa-passed → {before.digest[:19]}…" in steps
    assert not any(step.startswith("tagged") and f":{version} " in step for step in steps)
    assert real.resolve(repository, "qa-passed") == before.digest  # put back
    assert real.resolve(repository, version) is None  # the registry never took it
    assert AuditEvent.objects.filter(action="promotion.failed").count() == 1
    assert not Tag.objects.filter(repository__name=repository).exists()


def test_a_failed_last_write_undoes_the_succeeded_record_written_beside_it(
    gated, environments, api_for
):
    """The record is finished as succeeded while the last write runs (in a savepoint):
    a failed write leaves only the failed promotion, its audit event and no tag rows."""
    gate, registry, real, repository = gated
    image = push_image(real, repository, layers=[os.urandom(64)])
    real.put_manifest(repository, "qa-passed", image)  # only the version needs writing
    _ran_in_test(environments, registry, repository, image.digest)
    version = _version()
    gate.fail("PUT", f"/v2/{repository}/manifests/{version}$")

    response = _sign_off(api_for("tester"), environments, repository, image.digest, version=version)

    assert response.status_code == 424, response.data
    promotion = Promotion.objects.get(pk=response.data["id"])
    assert promotion.status == "failed" and promotion.finished_at is not None
    assert [step["message"] for step in promotion.log][-1].startswith("failed: ")
    assert not any(step["message"].startswith("tagged") for step in promotion.log)
    actions_recorded = list(AuditEvent.objects.values_list("action", flat=True))
    assert actions_recorded.count("promotion.failed") == 1
    assert "promotion.succeeded" not in actions_recorded
    assert not Tag.objects.filter(repository__name=repository).exists()
    assert real.resolve(repository, version) is None


def test_a_tag_already_at_the_digest_is_not_written_again(gated, environments, api_for):
    gate, registry, real, repository = gated
    image = push_image(real, repository, layers=[os.urandom(64)])
    real.put_manifest(repository, "qa-passed", image)
    _ran_in_test(environments, registry, repository, image.digest)
    version = _version()

    response = _sign_off(api_for("tester"), environments, repository, image.digest, version=version)

    assert response.status_code == 201, response.data
    assert gate.requests("PUT", "/manifests/qa-passed$") == []
    assert len(gate.requests("PUT", f"/manifests/{version}$")) == 1
    assert real.resolve(repository, version) == image.digest
    steps = [step["message"] for step in response.data["log"]]
    assert any("qa-passed already points at" in step for step in steps)
    assert sorted(
        Tag.objects.filter(repository__name=repository).values_list("name", flat=True)
    ) == sorted(["qa-passed", version])


@pytest.mark.django_db(transaction=True)
def test_two_sign_offs_of_one_version_at_once_serialise_and_the_second_is_refused(
    gated, environments, api_for
):
    gate, registry, real, repository = gated
    first = push_image(real, repository, layers=[os.urandom(64)])
    second = push_image(real, repository, layers=[os.urandom(64)])
    for image in (first, second):
        _ran_in_test(environments, registry, repository, image.digest)
    version = _version()
    release = gate.hold("PUT", f"/manifests/{version}$")
    answers: dict[str, object] = {}

    def sign_off(name: str, digest: str) -> None:
        try:
            answers[name] = _sign_off(
                api_for("tester"), environments, repository, digest, version=version
            )
        finally:
            connection.close()

    winner = threading.Thread(target=sign_off, args=("first", first.digest))
    winner.start()
    # The first holds the tags' locks and waits at its version write...
    assert gate.wait_for("PUT", f"/manifests/{version}$")
    loser = threading.Thread(target=sign_off, args=("second", second.digest))
    loser.start()
    # ... while the second has passed its checks and read its manifest: it now waits
    # for the locks, so it cannot have looked the version tag up yet.
    assert gate.wait_for("GET", f"/manifests/{second.digest}$")
    time.sleep(0.5)
    assert len(gate.requests("HEAD", f"/manifests/{version}$")) == 1  # the first's only
    release.set()
    winner.join(30)
    loser.join(30)

    assert answers["first"].status_code == 201, answers["first"].data
    assert answers["second"].status_code == 400, answers["second"].data
    assert "release tags are immutable" in str(answers["second"].data["version"])
    assert real.resolve(repository, version) == first.digest
    into_ops = Promotion.objects.filter(target_environment=environments["ops"])
    assert list(into_ops.values_list("digest", "status")) == [(first.digest, "succeeded")]
    # The second looked the version up only after the first had written it.
    order = [(m, p) for m, p in gate.seen if p.endswith(f"/manifests/{version}")]
    assert [m for m, _ in order] == ["HEAD", "PUT", "HEAD"]


def test_a_registry_failing_before_any_write_fails_the_recorded_promotion(
    gated, environments, api_for
):
    """A dependency failure, not a refusal: the attempt is recorded as failed (424), and
    nothing is written."""
    gate, registry, real, repository = gated
    image = push_image(real, repository, layers=[os.urandom(64)])
    _ran_in_test(environments, registry, repository, image.digest)
    gate.fail("GET", f"/manifests/{image.digest}$")

    response = _sign_off(
        api_for("tester"), environments, repository, image.digest, version=_version()
    )

    assert response.status_code == 424, response.data
    assert response.data["status"] == "failed" and "HTTP 500" in response.data["error"]
    assert gate.requests("PUT", "/manifests/") == []
    assert real.resolve(repository, "qa-passed") is None
    assert AuditEvent.objects.filter(action="promotion.failed").count() == 1
