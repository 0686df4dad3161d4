"""Service and deployment pages through Django's test client: the same access rules as the
API (nothing outside one's environments, secrets masked), on rows made with the ORM."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from environments.deploying import config as config_schema
from environments.models import Deployment, DeploymentEvent, Service, ServiceConfig
from registry.models import Registry

pytestmark = pytest.mark.django_db

DIGEST = "sha256:" + "ab" * 32
SECRET = "hunter2-not-for-pages"


def _config(service, environment, revision, **changes) -> ServiceConfig:
    document = config_schema.validate(
        {
            "replicas": 2,
            "port": 24000,
            "env": {"DB_PASSWORD": SECRET, "MODE": environment.slug},
            "secret_env": ["DB_PASSWORD"],
            **changes,
        }
    )
    return ServiceConfig.objects.create(
        service=service, environment=environment, revision=revision, document=document
    )


def _deployment(service, config, actor, status="succeeded", **fields) -> Deployment:
    now = timezone.now()
    deployment = Deployment.objects.create(
        service=service, environment=config.environment, digest=DIGEST, config=config,
        strategy="rolling", status=status, progress=100 if status == "succeeded" else 60,
        actor=actor, started_at=now - timedelta(seconds=12), finished_at=now, **fields,
    )  # fmt: skip
    events = [
        ("step", "Queued", {}),
        ("replica", "Starting replica 1 of 2", {"slot": 0, "state": "starting"}),
        ("replica", "Replica 1 of 2 is healthy", {"slot": 0, "state": "healthy"}),
        ("done", "Deployment succeeded", {"status": "succeeded"}),
    ]
    for seq, (kind, message, data) in enumerate(events, start=1):
        DeploymentEvent.objects.create(
            deployment=deployment, seq=seq, kind=kind, message=message, data=data
        )
    return deployment


@pytest.fixture
def web(personas, environments, admin_user):
    """Service "web" configured in Dev (two revisions) and Ops, deployed to both."""
    registry = Registry.objects.create(name="local", url="http://127.0.0.1:5000")
    service = Service.objects.create(
        name="web", registry=registry, repository="demo/app", created_by=admin_user
    )
    _config(service, environments["dev"], 1, replicas=1)
    dev_config = _config(service, environments["dev"], 2)
    ops_config = _config(service, environments["ops"], 1)
    return {
        "service": service,
        "dev": _deployment(service, dev_config, personas["developer"]),
        "ops": _deployment(
            service, ops_config, personas["operator"], status="failed", reason="port in use"
        ),
    }


def _get(client, personas, persona, url):
    if personas[persona] is not None:
        client.force_login(personas[persona])
    return client.get(url)


def test_a_stranger_gets_not_found_for_a_deployment_in_dev(client, personas, web):
    url = reverse("page-deployment", args=[web["dev"].pk])
    assert _get(client, personas, "stranger", url).status_code == 404
    missing = _get(client, personas, "stranger", reverse("page-deployment", args=[999999]))
    assert missing.status_code == 404


def test_a_developer_gets_not_found_for_a_deployment_in_ops(client, personas, web):
    response = _get(client, personas, "developer", reverse("page-deployment", args=[web["ops"].pk]))
    assert response.status_code == 404
    assert b"port in use" not in response.content


def test_anonymous_users_are_sent_to_the_login_page(client, personas, web):
    for url in (
        reverse("page-service-list"),
        reverse("page-service", args=["web"]),
        reverse("page-deployment", args=[web["dev"].pk]),
        reverse("page-service-config-json", args=["web", "dev"]),
    ):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_a_developer_follows_a_deployment_in_dev(client, personas, web):
    deployment = web["dev"]
    response = _get(client, personas, "developer", reverse("page-deployment", args=[deployment.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert f'data-deployment-socket="/ws/deployments/{deployment.pk}/"' in page
    assert 'aria-valuenow="100"' in page
    assert "Deployment succeeded in 12.0 s." in page
    assert "Replica 1" in page and "replica-healthy" in page
    assert "js/deployment.js" in page
    assert SECRET not in page


def test_an_operator_sees_the_failed_ops_deployment_and_its_reason(client, personas, web):
    response = _get(client, personas, "operator", reverse("page-deployment", args=[web["ops"].pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "status-failed" in page and "Deployment failed: port in use" in page


def test_the_services_page_shows_the_latest_status_per_visible_environment(client, personas, web):
    page = _get(client, personas, "developer", reverse("page-service-list")).content.decode()
    assert reverse("page-service", args=["web"]) in page
    assert reverse("page-deployment", args=[web["dev"].pk]) in page
    assert reverse("page-deployment", args=[web["ops"].pk]) not in page
    assert 'data-environment="ops"' not in page
    assert "Create service" in page  # developers deploy in Dev, so they may create services
    page = _get(client, personas, "operator", reverse("page-service-list")).content.decode()
    assert reverse("page-deployment", args=[web["ops"].pk]) in page


def test_a_stranger_neither_lists_nor_opens_a_configured_service(client, personas, web):
    page = _get(client, personas, "stranger", reverse("page-service-list")).content.decode()
    assert reverse("page-service", args=["web"]) not in page
    assert "Create service" not in page
    assert client.get(reverse("page-service", args=["web"])).status_code == 404
    assert client.get(reverse("page-service-config-json", args=["web", "dev"])).status_code == 404


def test_the_service_page_offers_deploying_only_where_one_may(client, personas, web):
    response = _get(client, personas, "developer", reverse("page-service", args=["web"]))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="env-dev"' in page and 'id="env-test"' in page and 'id="env-ops"' not in page
    assert "Deploy to Dev" in page and "Deploy to Test" not in page
    assert reverse("service-configs", args=[web["service"].pk]) in page
    assert reverse("deployment-list") in page
    assert SECRET not in page and config_schema.MASK in page
    # Dev is not protected: no typed confirmation there.
    assert 'data-typed-confirm="' not in page


def test_an_operator_must_type_the_name_of_a_protected_environment(client, personas, web):
    page = _get(client, personas, "operator", reverse("page-service", args=["web"])).content
    page = page.decode()
    assert "Deploy to Ops" in page and 'data-typed-confirm="Ops"' in page
    assert "Deploy to Dev" not in page  # operators only view Dev
    assert SECRET not in page


def test_the_revision_list_shows_what_changed(client, personas, web):
    url = reverse("page-service", args=["web"]) + "?env=dev&rev=2"
    page = _get(client, personas, "developer", url).content.decode()
    assert "r1 → r2" in page
    assert '<span class="del">-  &quot;replicas&quot;: 1,</span>' in page
    assert '<span class="add">+  &quot;replicas&quot;: 2,</span>' in page
    assert SECRET not in page


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_a_config_exports_as_a_download_with_secrets_masked(client, personas, web, fmt):
    url = reverse(f"page-service-config-{fmt}", args=["web", "dev"])
    response = _get(client, personas, "developer", url)
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="web-dev-r2.{fmt}"'
    text = response.content.decode()
    assert SECRET not in text and config_schema.MASK in text
    assert config_schema.load(text, fmt)["replicas"] == 2
    first = client.get(url + "?revision=1")
    assert config_schema.load(first.content.decode(), fmt)["replicas"] == 1
    assert client.get(url + "?revision=7").status_code == 404


def test_a_developer_cannot_export_the_ops_config(client, personas, web):
    url = reverse("page-service-config-json", args=["web", "ops"])
    assert _get(client, personas, "developer", url).status_code == 404
    assert _get(client, personas, "operator", url).status_code == 200


def test_the_latest_deployment_offers_a_rollback_to_the_previous_success(client, personas, web):
    newer = _deployment(
        web["service"], web["dev"].config, personas["developer"], status="failed", reason="boom"
    )
    url = reverse("page-service", args=["web"])
    page = _get(client, personas, "developer", url).content.decode()
    assert reverse("deployment-rollback", args=[newer.pk]) in page
    assert f"Roll back to #{web['dev'].pk}" in page
    # Operators only view Dev: the history shows, the button does not.
    page = _get(client, personas, "operator", url).content.decode()
    assert f'data-deployment="{newer.pk}"' in page and "boom" in page
    assert "Roll back to" not in page
