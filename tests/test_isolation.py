"""Isolation that does not depend on care: the deploy policy, the fields only
administrators change, and deployment records that cannot lie."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from environments import actions
from environments.deploying import runner
from environments.deploying.config import validate
from environments.models import Deployment, Environment, Service, ServiceConfig
from portal.core.errors import Forbidden
from portal.models import AuditEvent
from registry.models import Registry

pytestmark = pytest.mark.django_db

DIGEST = "sha256:" + "e" * 64


@pytest.fixture
def web(admin_user):
    registry = Registry.objects.create(name="local", url="http://127.0.0.1:5000")
    return Service.objects.create(name="web", registry=registry, repository="demo/app")


def _save(user, service, environment, **config):
    return actions.save_config(user, service, environment, {"network_mode": "none", **config})


def _errors(excinfo) -> dict:
    return excinfo.value.message_dict


# --- the deploy policy ------------------------------------------------------------------


@pytest.mark.parametrize(
    "volume",
    [
        "/:/host",
        "/var/run/docker.sock:/var/run/docker.sock",
        "/run:/run",
        "/etc:/etc",
        f"{settings.DATA_DIR}:/data",
        f"{settings.DATA_DIR}/secret_key:/key",
        f"{settings.BASE_DIR}:/code",
        "/srv/data/../../var/run/docker.sock:/s",
    ],
)
def test_a_developer_cannot_mount_the_host_or_a_docker_socket(personas, environments, web, volume):
    with pytest.raises(ValidationError) as excinfo:
        _save(personas["developer"], web, environments["dev"], volumes=[volume])
    assert "volumes.0" in _errors(excinfo)


def test_a_docker_socket_stays_refused_even_when_the_policy_allows_everything(
    admin_user, personas, environments, web
):
    dev = actions.update_environment(admin_user, environments["dev"], allowed_bind_mounts=["/"])
    with pytest.raises(ValidationError) as excinfo:
        _save(personas["developer"], web, dev, volumes=["/var/run/docker.sock:/docker.sock"])
    assert "Docker socket" in _errors(excinfo)["volumes.0"][0]
    endpoint_socket = dev.endpoint_url.removeprefix("unix://")
    with pytest.raises(ValidationError):
        _save(personas["developer"], web, dev, volumes=[f"{endpoint_socket}:/engine.sock"])


def test_bind_mounts_follow_the_allow_list_and_named_volumes_are_free(
    admin_user, personas, environments, web
):
    developer = personas["developer"]
    with pytest.raises(ValidationError) as excinfo:
        _save(developer, web, environments["dev"], volumes=["/srv/data/app:/data"])
    assert "allows no host directories" in _errors(excinfo)["volumes.0"][0]
    dev = actions.update_environment(
        admin_user, environments["dev"], allowed_bind_mounts=["/srv/data"]
    )
    assert _save(developer, web, dev, volumes=["/srv/data/app:/data:ro", "cache:/cache"])
    with pytest.raises(ValidationError):
        _save(developer, web, dev, volumes=["/srv/database:/data"])  # a prefix, not a path


def test_host_networking_needs_the_policy(admin_user, personas, environments, web):
    test = actions.update_environment(admin_user, environments["test"], allow_host_network=False)
    with pytest.raises(ValidationError) as excinfo:
        _save(personas["tester"], web, test, network_mode="host")
    assert "host networking" in _errors(excinfo)["network_mode"][0]
    assert _save(personas["tester"], web, test, network_mode="none")


def test_the_policy_is_checked_again_at_deploy_time(admin_user, personas, environments, web):
    revision = _save(personas["developer"], web, environments["dev"], network_mode="host")
    actions.update_environment(admin_user, environments["dev"], allow_host_network=False)
    dev = Environment.objects.get(slug="dev")
    with pytest.raises(ValidationError) as excinfo:
        actions.deploy(web, dev, DIGEST, user=personas["developer"], config=revision)
    assert "network_mode" in _errors(excinfo)
    assert not Deployment.objects.exists()


def test_a_swarm_strategy_on_a_standalone_engine_is_refused_when_saved(personas, environments, web):
    with pytest.raises(ValidationError) as excinfo:
        _save(personas["developer"], web, environments["dev"], strategy={"type": "swarm"})
    assert "standalone" in _errors(excinfo)["strategy.type"][0]


def test_the_api_names_the_field_and_the_rule(api_for, web, environments):
    response = api_for("developer").post(
        reverse("service-configs", args=[web.pk]),
        {"environment": "dev", "document": {"network_mode": "none", "volumes": ["/:/host"]}},
        format="json",
    )
    assert response.status_code == 400
    assert "volumes.0" in response.data


# --- fields only administrators change --------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"position": 15},
        {"protected": False},
        {"require_version": True},
        {"endpoint_url": "tcp://127.0.0.1:2376"},
        {"only_labelled_containers": False},
        {"promotion_tag": "anything"},
        {"repository_template": "other/{repository}"},
        {"allow_host_network": False},
        {"allowed_bind_mounts": ["/"]},
        {"slug": "production"},
        {"tier": "development"},
    ],
)
def test_an_operator_who_manages_ops_cannot_change_what_isolates_it(personas, environments, change):
    with pytest.raises(Forbidden) as excinfo:
        actions.update_environment(personas["operator"], environments["ops"], **change)
    assert "Only administrators" in str(excinfo.value)
    ops = Environment.objects.get(pk=environments["ops"].pk)
    field, value = next(iter(change.items()))
    assert getattr(ops, field) != value


def test_an_operator_still_renames_and_describes_ops(personas, environments):
    ops = actions.update_environment(
        personas["operator"], environments["ops"], name="Production", description="the live one"
    )
    assert (ops.name, ops.description) == ("Production", "the live one")


def test_moving_dev_next_to_ops_over_the_api_is_refused_and_recorded_nowhere(api_for, environments):
    url = reverse("environment-detail", args=[environments["ops"].pk])
    response = api_for("operator").patch(url, {"position": 11}, format="json")
    assert response.status_code == 403
    assert "position" in str(response.data)
    assert not AuditEvent.objects.filter(action="environment.update").exists()


def test_an_administrator_changes_the_promotion_path_and_it_is_audited(admin_user, environments):
    actions.update_environment(admin_user, environments["ops"], position=35)
    event = AuditEvent.objects.get(action="environment.update")
    assert event.details["changed"]["position"] == [30, 35]


# --- records that cannot lie ------------------------------------------------------------


@pytest.fixture
def deployment(personas, environments, web):
    revision = _save(personas["developer"], web, environments["dev"])
    return Deployment.objects.create(
        service=web, environment=environments["dev"], digest=DIGEST, config=revision,
        strategy=validate({})["strategy"]["type"], status=Deployment.Status.RUNNING,
        started_at=timezone.now(), heartbeat_at=timezone.now(),
    )  # fmt: skip


def test_a_finished_deployment_never_changes_outcome(deployment):
    assert runner._finish(deployment, Deployment.Status.FAILED, "reaped")
    assert not runner._finish(deployment, Deployment.Status.SUCCEEDED)
    deployment.refresh_from_db()
    assert (deployment.status, deployment.reason) == ("failed", "reaped")
    assert list(deployment.events.values_list("kind", flat=True)) == ["failed"]


def test_event_numbers_follow_each_other_whoever_writes(deployment):
    runner.record_event(deployment, "step", "the worker's step", {}, None)
    assert runner._finish(deployment, Deployment.Status.FAILED, "reaped")  # the reaper
    runner.record_event(deployment, "step", "a late step of the worker", {}, None)
    assert list(deployment.events.values_list("seq", flat=True)) == [1, 2, 3]


def test_the_reaper_leaves_a_deployment_whose_worker_still_beats(deployment):
    assert runner.reap_stale_deployments() == []
    deployment.refresh_from_db()
    assert deployment.status == Deployment.Status.RUNNING and deployment.worker != "reaper"


# --- secrets at rest ----------------------------------------------------------------------


def test_secret_env_values_are_encrypted_in_the_database(personas, environments, web):
    from django.db import connection

    revision = _save(
        personas["developer"], web, environments["dev"],
        env={"DB_PASSWORD": "hunter2-plain", "MODE": "fast"}, secret_env=["DB_PASSWORD"],
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT document FROM environments_serviceconfig WHERE id = %s", [revision.pk]
        )
        stored = str(cursor.fetchone()[0])
    assert "hunter2-plain" not in stored and "fast" in stored
    revision.refresh_from_db()
    assert revision.document["env"]["DB_PASSWORD"] == "hunter2-plain"  # for the engine


def test_the_admin_shows_config_revisions_masked_and_services_read_only(
    client, admin_user, personas, environments, web
):
    revision = _save(
        personas["developer"], web, environments["dev"],
        env={"DB_PASSWORD": "hunter2-plain"}, secret_env=["DB_PASSWORD"],
    )  # fmt: skip
    client.force_login(admin_user)
    page = client.get(reverse("admin:environments_serviceconfig_change", args=[revision.pk]))
    assert page.status_code == 200 and "hunter2-plain" not in page.content.decode()
    response = client.post(
        reverse("admin:environments_service_change", args=[web.pk]),
        {"name": "renamed", "registry": web.registry_id, "repository": "demo/app"},
    )
    assert response.status_code == 403
    assert Service.objects.get(pk=web.pk).name == "web"


def test_the_data_directory_is_the_owners_alone():
    import os

    assert os.stat(settings.DATA_DIR).st_mode & 0o077 == 0


# --- operations -------------------------------------------------------------------------


@pytest.fixture
def deployed_in_ops(personas, environments, web, admin_user):
    revision = ServiceConfig.objects.create(
        service=web, environment=environments["ops"], revision=1,
        document=validate({"network_mode": "none"}),
    )  # fmt: skip
    return Deployment.objects.create(
        service=web, environment=environments["ops"], digest=DIGEST, config=revision,
        strategy="rolling", status=Deployment.Status.SUCCEEDED, finished_at=timezone.now(),
    )  # fmt: skip


def test_stopping_a_protected_environment_needs_a_confirmation(
    personas, environments, web, deployed_in_ops
):
    with pytest.raises(ValidationError) as excinfo:
        actions.stop_service(web, environments["ops"], user=personas["operator"])
    assert "confirm" in _errors(excinfo)
    stop = actions.stop_service(web, environments["ops"], user=personas["operator"], confirm=True)
    assert (stop.action, stop.digest, stop.status) == ("stop", DIGEST, "pending")


def test_an_operation_is_not_something_to_roll_back(personas, environments, web, deployed_in_ops):
    stop = actions.stop_service(web, environments["ops"], user=personas["operator"], confirm=True)
    Deployment.objects.filter(pk=stop.pk).update(status=Deployment.Status.SUCCEEDED)
    stop.refresh_from_db()
    with pytest.raises(ValidationError, match="roll back a deployment"):
        actions.rollback(stop, user=personas["operator"], confirm=True)
    assert Deployment.objects.last_succeeded(web, environments["ops"]) == deployed_in_ops


def test_an_operation_page_reads_as_the_operation(
    client, personas, environments, web, deployed_in_ops
):
    stop = actions.stop_service(web, environments["ops"], user=personas["operator"], confirm=True)
    Deployment.objects.filter(pk=stop.pk).update(status=Deployment.Status.SUCCEEDED)
    client.force_login(personas["operator"])
    page = client.get(reverse("page-deployment", args=[stop.pk])).content.decode()
    assert f"Stop of web #{stop.pk}" in page and "Stop succeeded" in page
    assert "Deployment succeeded" not in page


def test_a_manager_asking_for_another_slug_is_told_only_that_slugs_are_for_administrators(
    environments, personas, admin_user, api_for
):
    """Ops' manager asking for slug "dev" (taken) or "prod" (free) gets the same 403: the
    uniqueness check, which said "already exists", comes after the rule. Names are
    unique whatever their case, so no "OPS" passes for production beside "Ops"."""
    ops = environments["ops"]
    manager = api_for("operator")
    for slug in ("dev", "prod"):
        answer = manager.patch(f"/api/environments/{ops.pk}/", {"slug": slug}, format="json")
        assert answer.status_code == 403, answer.content
        assert "Only administrators may change slug" in answer.json()["detail"]
    answer = manager.patch(f"/api/environments/{ops.pk}/", {"name": " TEST "}, format="json")
    assert answer.status_code == 400
    assert answer.json() == {"name": ["Another environment has this name."]}
    answer = manager.patch(f"/api/environments/{ops.pk}/", {"name": " Live  Ops "}, format="json")
    assert answer.status_code == 200 and answer.json()["name"] == "Live Ops"
    admin = api_for("operator")
    admin.force_authenticate(admin_user)
    answer = admin.patch(f"/api/environments/{ops.pk}/", {"slug": "dev"}, format="json")
    assert answer.status_code == 400
    assert answer.json() == {"slug": ["Environment with this Slug already exists."]}
    answer = admin.post(
        "/api/environments/",
        {"name": "LIVE ops", "slug": "ops2", "position": 99, "endpoint_url": ops.endpoint_url},
        format="json",
    )
    assert answer.status_code == 400 and list(answer.json()) == ["name"]
    assert Environment.objects.get(pk=ops.pk).slug == "ops"
