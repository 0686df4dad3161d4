"""What the service forms rely on, through the API: a service created from a full image
reference, port clashes refused at save naming the owner, a copied secret that must be
given again, and the deploy picker's choices with the promotion rule applied."""

from __future__ import annotations

import pytest

from environments import actions
from environments.models import Deployment, Service
from registry.models import Promotion, Registry

pytestmark = pytest.mark.django_db

DIGEST_A = "sha256:" + "a1" * 32
DIGEST_B = "sha256:" + "b2" * 32


@pytest.fixture
def registry(environments):
    registry = Registry.objects.create(name="local", url="http://127.0.0.1:1")
    for environment in environments.values():
        environment.registry = registry
        environment.save(update_fields=["registry"])
    return registry


@pytest.fixture
def web(registry, admin_user):
    return Service.objects.create(
        name="web", registry=registry, repository="demo/app", created_by=admin_user
    )


def _save(api, service, environment, document):
    return api.post(
        f"/api/services/{service.pk}/configs/",
        {"environment": environment, "document": document},
        format="json",
    )


def test_a_service_is_created_from_a_full_image_reference(api_for, registry):
    response = api_for("developer").post(
        "/api/services/",
        {"name": "app", "repository": "127.0.0.1:1/demo/app:latest"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["registry"] == "local"
    assert response.json()["repository"] == "demo/app"


def test_an_unknown_registry_host_is_an_error_on_the_repository_field(api_for, registry):
    response = api_for("developer").post(
        "/api/services/", {"name": "app", "repository": "registry.example:5000/demo/app"},
        format="json",
    )  # fmt: skip
    assert response.status_code == 400
    assert "No registry at registry.example:5000" in response.json()["repository"][0]


def test_a_repository_alone_still_needs_a_registry(api_for, registry):
    response = api_for("developer").post(
        "/api/services/", {"name": "app", "repository": "demo/app"}, format="json"
    )
    assert response.status_code == 400
    assert "Choose a registry" in response.json()["registry"][0]


def test_a_port_another_service_binds_on_the_same_engine_is_refused_naming_it(
    api_for, web, registry, personas
):
    other = Service.objects.create(name="api", registry=registry, repository="demo/api")
    developer = api_for("developer")
    assert _save(developer, other, "dev", {"port": 24000, "replicas": 2}).status_code == 201
    refused = _save(developer, web, "dev", {"port": 24001})
    assert refused.status_code == 400
    assert refused.json()["port"] == [
        # 24101: the new replica a rolling deploy starts beside the old one, green.
        "Ports 24001, 24101 are already bound on this engine by api in Dev: choose another "
        "base port (replica n binds base + n - 1, green ones 100 higher)."
    ]
    assert _save(developer, web, "dev", {"port": 24002}).status_code == 201
    # The service's own earlier revision in the same environment is no clash.
    assert _save(developer, web, "dev", {"port": 24002, "replicas": 3}).status_code == 201


@pytest.mark.parametrize(
    ("document", "highest"),
    [
        ({"port": 65535, "replicas": 3, "strategy": {"type": "recreate"}}, 65537),
        ({"port": 65500, "replicas": 3}, 65602),  # rolling starts new ones 100 higher
        ({"port": 65500, "replicas": 1, "strategy": {"type": "blue-green"}}, 65600),
    ],
)
def test_replicas_that_would_bind_past_65535_are_refused_on_port(api_for, web, document, highest):
    refused = _save(api_for("developer"), web, "dev", document)
    assert refused.status_code == 400
    assert refused.json()["port"] == [
        f"The replicas would bind up to port {highest}, past 65535: replica n binds base + n - 1 "
        "(green ones 100 higher), so lower the base port."
    ]
    assert (
        _save(api_for("developer"), web, "dev", {"port": 65333, "replicas": 3}).status_code == 201
    )


def test_the_same_port_in_another_environment_on_the_engine_clashes_and_hides_its_owner(
    api_for, web
):
    developer = api_for("developer")
    assert _save(developer, web, "dev", {"port": 26000}).status_code == 201
    assert _save(api_for("operator"), web, "ops", {"port": 25000}).status_code == 201
    refused = _save(developer, web, "dev", {"port": 25000})
    assert refused.status_code == 400
    assert "by a service in an environment you cannot see" in refused.json()["port"][0]


def test_a_named_volume_name_is_free_in_every_environment(api_for, web, registry):
    """A named volume is its environment's own on the engine (``berth.<slug>.<name>``):
    the same name in Dev and Ops is two volumes, so nothing is refused and Dev never
    mounts Ops' data; services of one environment share theirs."""
    operator, developer = api_for("operator"), api_for("developer")
    assert _save(developer, web, "dev", {"port": 27200}).status_code == 201
    ops = {"port": 27000, "volumes": ["shop-data:/data"]}
    assert _save(operator, web, "ops", ops).status_code == 201
    dev = {"port": 27200, "volumes": ["cache:/c", "shop-data:/d"]}
    assert _save(developer, web, "dev", dev).status_code == 201
    other = Service.objects.create(name="worker", registry=registry, repository="demo/worker")
    shared = {"port": 27400, "volumes": ["shop-data:/d"]}
    assert _save(developer, other, "dev", shared).status_code == 201


def test_a_secret_copied_masked_from_another_environment_must_be_given_again(api_for, web):
    document = {"env": {"DB_PASSWORD": "********", "MODE": "dev"}, "secret_env": ["DB_PASSWORD"]}
    refused = _save(api_for("developer"), web, "dev", document)
    assert refused.status_code == 400
    assert refused.json() == {"env.DB_PASSWORD": ["Give DB_PASSWORD's value in Dev."]}


def _succeeded(service, environment, digest, actor):
    config = actions.save_config(actor, service, environment, {"replicas": 1})
    return Deployment.objects.create(
        service=service, environment=environment, digest=digest, config=config,
        strategy="rolling", status="succeeded", actor=actor,
    )  # fmt: skip


def test_the_picker_offers_what_other_environments_run_and_greys_unpromoted_digests(
    api_for, web, registry, environments, admin_user
):
    _succeeded(web, environments["test"], DIGEST_A, admin_user)
    _succeeded(web, environments["dev"], DIGEST_B, admin_user)
    Promotion.objects.create(
        digest=DIGEST_A, source_environment=environments["test"],
        target_environment=environments["ops"], source_registry=registry,
        source_repository="demo/app", target_registry=registry, target_repository="demo/app",
        tags=["qa-passed", "1.0.0"], version="1.0.0", status="succeeded", actor=admin_user,
    )  # fmt: skip
    answer = (
        api_for("operator")
        .get(f"/api/services/{web.pk}/candidates/", {"environment": "ops"})
        .json()
    )
    assert answer["protected"] is True
    assert "Could not read 127.0.0.1:1/demo/app" in answer["problem"]
    by_label = {c["label"]: c for c in answer["candidates"]}
    promoted = by_label["Promoted into Ops as qa-passed, 1.0.0 by root"]
    assert (promoted["digest"], promoted["allowed"]) == (DIGEST_A, True)
    assert by_label["What Test runs"]["allowed"] is True
    assert by_label["What Dev runs"]["allowed"] is False
    assert by_label["What Dev runs"]["reason"].startswith("not promoted into Ops")

    # In Dev (not protected) everything is allowed; Ops is not the developer's to see.
    dev = (
        api_for("developer")
        .get(f"/api/services/{web.pk}/candidates/", {"environment": "dev"})
        .json()
    )
    assert [c["label"] for c in dev["candidates"]] == ["What Test runs"]
    assert all(c["allowed"] for c in dev["candidates"])
