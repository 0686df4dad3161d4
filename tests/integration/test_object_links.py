"""Every object a page mentions is a link: a deployment's replicas to their container
pages, a container page back to its service and deployment, an image page's "where it
runs" to the environment, service, deployment and containers. Real containers."""

from __future__ import annotations

import docker
import pytest
from django.urls import reverse

from environments import actions, engine
from environments.models import Deployment, DeploymentEvent, Service
from registry.inventory import refresh_repository
from registry.models import Image, Registry, Tag
from tests.test_deployment_pages import _config, _deployment

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

IDLE = "trap 'exit 0' TERM; while :; do sleep 0.1; done"


@pytest.fixture
def deployed(personas, environments, admin_user, registry_url):
    """Service "linked" with a succeeded Dev deployment (ORM rows)."""
    registry = Registry.objects.create(name="local", url=registry_url, verify_tls=False)
    service = Service.objects.create(
        name="linked", registry=registry, repository="demo/app", created_by=admin_user
    )
    config = _config(service, environments["dev"], 1)
    return _deployment(service, config, personas["developer"])


def test_replicas_on_a_deployment_page_link_to_their_container_pages(client, personas, deployed):
    name = f"linked-dev-1-d{deployed.pk}"
    DeploymentEvent.objects.create(
        deployment=deployed, seq=10, kind="replica", message="Starting replica 2 of 2",
        data={"slot": 1, "state": "starting", "container": name.replace("-1-", "-2-")},
    )  # fmt: skip
    DeploymentEvent.objects.create(
        deployment=deployed, seq=11, kind="replica", message="Replica 2 of 2 is healthy",
        data={"slot": 1, "state": "healthy"},
    )  # fmt: skip
    client.force_login(personas["developer"])
    body = client.get(reverse("page-deployment", args=[deployed.pk])).content.decode()
    target = reverse("env-container", args=["dev", name.replace("-1-", "-2-")])
    assert f'<a href="{target}"' in body  # the name survives the later event without one
    # Events from before containers were named (slot 0 here) still show the replica.
    assert "<span>Replica 1</span>" in body


def test_a_container_page_links_back_to_its_service_and_deployment(
    client, personas, deployed, run_container
):
    container = run_container(
        IDLE,
        labels={engine.LABEL_SERVICE: "linked", engine.LABEL_DEPLOYMENT: str(deployed.pk)},
    )
    client.force_login(personas["developer"])
    body = client.get(reverse("env-container", args=["dev", container.id])).content.decode()
    assert f'href="{reverse("page-deployment", args=[deployed.pk])}"' in body
    assert f'href="{reverse("page-service", args=["linked"])}?env=dev' in body
    # A label naming a deployment of another environment (or none) links nowhere.
    other = run_container(
        IDLE, labels={engine.LABEL_SERVICE: "linked", engine.LABEL_DEPLOYMENT: "987654"}
    )
    body = client.get(reverse("env-container", args=["dev", other.id])).content.decode()
    assert "deployment #987654" not in body


def test_where_an_image_runs_links_environment_service_deployment_and_container(
    client, personas, deployed, environments, docker_host, admin_user
):
    registry = deployed.service.registry
    actions.update_environment(admin_user, environments["dev"], registry=registry)
    refresh_repository(registry, "demo/app")
    digest = Tag.objects.get(repository__name="demo/app", name="latest").digest
    image = Image.objects.get(repository__name="demo/app", digest=digest)
    docker_client = docker.DockerClient(base_url=docker_host, version="auto")
    docker_client.images.pull(f"{registry.host}/demo/app", tag="latest")
    container = docker_client.containers.run(
        f"{registry.host}/demo/app@{digest}",
        ["sh", "-c", IDLE],
        name=f"linked-dev-1-d{deployed.pk}",
        labels={
            engine.LABEL_ENVIRONMENT: "dev",
            engine.LABEL_SERVICE: "linked",
            engine.LABEL_DEPLOYMENT: str(deployed.pk),
        },
        network_mode="none",
        detach=True,
    )
    try:
        client.force_login(personas["developer"])
        body = client.get(reverse("image-page", args=[image.pk])).content.decode()
        client.force_login(admin_user)  # may sign off in Dev: offered, towards Test
        as_admin = client.get(reverse("image-page", args=[image.pk])).content.decode()
    finally:
        container.remove(force=True)
        docker_client.close()
    assert f'href="{reverse("env-page", args=["dev"])}"' in body
    assert f'href="{reverse("page-service", args=["linked"])}?env=dev' in body
    assert f'href="{reverse("page-deployment", args=[deployed.pk])}"' in body
    assert f'href="{reverse("env-container", args=["dev", container.name])}"' in body
    assert "Sign off in" not in body  # the developer may not sign off in Dev
    assert "Sign off in Dev, promote to Test:" in as_admin
    assert Deployment.objects.filter(pk=deployed.pk).exists()
