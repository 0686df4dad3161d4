"""Pipeline definitions through the API, as someone who cannot see every environment:
one out of sight is refused as one that does not exist, and none is named."""

from __future__ import annotations

import pytest

from environments.models import Service
from registry.models import Registry

pytestmark = pytest.mark.django_db


@pytest.fixture
def web(environments, admin_user):
    registry = Registry.objects.create(name="local", url="http://127.0.0.1:1")
    return Service.objects.create(
        name="web", registry=registry, repository="demo/app", created_by=admin_user
    )


@pytest.mark.parametrize("slug", ["ops", "nosuch"])
def test_an_environment_out_of_sight_is_refused_like_a_missing_one(api_for, web, slug):
    text = (
        "stages:\n"
        "  - {name: deploy-dev, kind: deploy, environment: dev}\n"
        f"  - {{name: later, kind: approval, environment: {slug}}}\n"
    )
    response = api_for("developer").post(
        "/api/pipelines/", {"service": "web", "name": "p", "text": text}, format="json"
    )
    assert response.status_code == 400, response.content
    message = str(response.json())
    assert f"no environment '{slug}'" in message and "line 3" in message
    assert "ops" not in message.replace(f"'{slug}'", "")  # the choices listed are dev, test


def test_a_ref_git_would_misread_is_refused_when_a_run_starts(api_for, web, admin_user):
    admin = api_for("developer")
    admin.force_authenticate(admin_user)
    text = "stages:\n  - {name: build, kind: build, environment: dev, git: {url: /srv/web.git}}\n"
    created = admin.post(
        "/api/pipelines/", {"service": "web", "name": "b", "text": text}, format="json"
    )
    assert created.status_code == 201, created.content
    response = admin.post(
        f"/api/pipelines/{created.json()['id']}/run/", {"ref": "--upload-pack=touch /tmp/x"},
        format="json",
    )  # fmt: skip
    assert response.status_code == 400 and "ref" in response.json()
    assert not web.pipelines.get().runs.exists()


def test_revisions_come_newest_first_each_with_its_diff_to_the_one_before(api_for, web, admin_user):
    client = api_for("developer")
    stage = "  - {{name: deploy-{}, kind: deploy, environment: dev}}\n"
    texts = ["stages:\n" + "".join(stage.format(n) for n in range(1, k + 1)) for k in (1, 2, 3)]
    created = client.post(
        "/api/pipelines/", {"service": "web", "name": "p", "text": texts[0]}, format="json"
    )
    assert created.status_code == 201, created.content
    url = f"/api/pipelines/{created.json()['id']}/"
    for text in texts[1:]:
        saved = client.post(f"{url}revisions/", {"text": text, "comment": "more"}, format="json")
        assert saved.status_code == 201, saved.content

    revisions = client.get(f"{url}revisions/").json()["results"]
    assert [r["revision"] for r in revisions] == [3, 2, 1]
    assert [r["text"] for r in revisions] == texts[::-1]
    assert (
        "--- r2\n+++ r3\n" in revisions[0]["diff"]
        and "+  - {name: deploy-3" in revisions[0]["diff"]
    )
    assert "--- r1\n+++ r2\n" in revisions[1]["diff"] and "deploy-3" not in revisions[1]["diff"]
    assert revisions[2]["diff"].startswith("--- empty\n+++ r1\n")
    paged = client.get(f"{url}revisions/?limit=1&offset=1").json()
    assert paged["count"] == 3 and [r["diff"] for r in paged["results"]] == [revisions[1]["diff"]]
    listed = client.get("/api/pipelines/").json()["results"]
    assert [(p["revision"], p["text"]) for p in listed] == [(3, texts[2])]
    assert client.get(url).json()["revision"] == 3
