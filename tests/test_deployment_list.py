"""The deployments list page (``/deployments/``) and ``/api/deployments/`` read one
spec: the same filters, search and sort, only rows of environments one can see."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from environments.models import Deployment
from tests.test_deployment_pages import _config, _deployment, web  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db

URL = "/deployments/"


def _rows(response) -> list[int]:
    import re

    return [int(pk) for pk in re.findall(rb'<tr data-deployment="(\d+)"', response.content)]


@pytest.fixture
def more(web, personas, environments):  # noqa: F811
    """A third deployment, in Dev, an hour old, cancelled, by the tester."""
    config = _config(web["service"], environments["dev"], 3)
    old = _deployment(web["service"], config, personas["tester"], status="cancelled")
    Deployment.objects.filter(pk=old.pk).update(created_at=old.created_at - timedelta(hours=2))
    return {**web, "old": old}


def test_each_persona_sees_the_deployments_of_their_environments_with_links(client, personas, more):
    client.force_login(personas["developer"])
    response = client.get(URL)
    assert response.status_code == 200
    assert _rows(response) == [more["dev"].pk, more["old"].pk]  # newest first; no Ops
    assert b"port in use" not in response.content
    body = response.content.decode()
    dev = more["dev"]
    assert f'href="{reverse("page-deployment", args=[dev.pk])}"' in body
    assert f'href="{reverse("page-service", args=["web"])}"' in body
    assert f'href="{reverse("env-page", args=["dev"])}"' in body
    assert 'aria-current="page">Deployments</a>' in body
    client.force_login(personas["operator"])
    assert more["ops"].pk in _rows(client.get(URL))
    client.force_login(personas["stranger"])
    assert _rows(client.get(URL)) == []


def test_filters_sort_and_search_narrow_the_list(client, personas, more):
    client.force_login(personas["operator"])
    pks = {name: more[name].pk for name in ("dev", "ops", "old")}
    cases = {
        "?environment=ops": [pks["ops"]],
        "?status=failed": [pks["ops"]],
        "?status=cancelled&environment=dev": [pks["old"]],
        "?actor=tester": [pks["old"]],
        "?since=1h": [pks["ops"], pks["dev"]],
        "?sort=created": [pks["old"], pks["dev"], pks["ops"]],
        "?q=port+in": [pks["ops"]],
        "?service=nothing-like-it": [],
    }
    for query, expected in cases.items():
        assert _rows(client.get(URL + query)) == expected, query


def test_a_bad_parameter_is_ignored_on_the_page_and_a_400_in_the_api(
    client, personas, api_for, more
):
    client.force_login(personas["developer"])
    response = client.get(URL + "?status=exploded&page=0&q=" + "x" * 300)
    assert response.status_code == 200
    assert b"Ignored:" in response.content and b"status is one of" in response.content
    api = api_for("developer")
    answer = api.get("/api/deployments/", {"status": "exploded"})
    assert answer.status_code == 400 and "status" in answer.json()
    assert api.get("/api/deployments/", {"since": "forever"}).status_code == 400


def test_the_api_list_filters_with_the_same_spec(api_for, more):
    api = api_for("operator")
    ids = lambda **params: [d["id"] for d in api.get("/api/deployments/", params).json()["results"]]  # noqa: E731
    assert ids(actor="tester") == [more["old"].pk]
    assert ids(environment="ops") == [more["ops"].pk]
    assert ids(q="port in") == [more["ops"].pk]
    assert ids(sort="created")[0] == more["old"].pk
    # The developer cannot see Ops: its slug keeps nothing, like one that does not exist.
    developer = api_for("developer")
    hidden = developer.get("/api/deployments/", {"environment": "ops"}).json()
    missing = developer.get("/api/deployments/", {"environment": "nowhere"}).json()
    assert hidden == missing and hidden["count"] == 0
