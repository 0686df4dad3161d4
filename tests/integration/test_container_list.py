"""The environment page's containers list against the real engine: search, filters
(state, service), sort and paging through the shared list spec; labels folded away;
the ports a host-networked replica listens on."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from environments import engine

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

IDLE = "trap 'exit 0' TERM; while :; do sleep 0.1; done"


def _names(response) -> list[str]:
    return re.findall(
        r'<a href="/environments/dev/containers/[0-9a-f]+/"><strong>([^<]+)</strong>',
        response.content.decode(),
    )


@pytest.fixture
def three(run_container):
    tag = run_container(IDLE).name.rsplit("-", 1)[1]  # a unique word for this test's rows
    web = run_container(IDLE, name=f"lst-{tag}-web", labels={engine.LABEL_SERVICE: "web", engine.LABEL_PORT: "24010", engine.LABEL_DEPLOYMENT: "7"})  # fmt: skip
    api = run_container(IDLE, name=f"lst-{tag}-api", labels={engine.LABEL_SERVICE: "api"})
    api.stop(timeout=1)
    return tag, web, api


def test_search_filters_sort_and_folded_labels(client, personas, three):
    tag, web, api = three
    client.force_login(personas["developer"])
    url = reverse("env-containers-fragment", args=["dev"])
    assert _names(client.get(url, {"q": f"lst-{tag}", "sort": "name"})) == [api.name, web.name]
    assert _names(client.get(url, {"q": f"lst-{tag}", "state": "running"})) == [web.name]
    assert _names(client.get(url, {"q": f"lst-{tag}", "service": "api"})) == [api.name]
    page = client.get(url, {"q": f"lst-{tag}", "service": "web"}).content.decode()
    # Labels fold into a <details> with their count; the service and deployment are links.
    folded = (
        r"<details><summary>\d+ labels</summary>(?:(?!</details>).)*<code>berth.port=24010</code>"
    )
    assert re.search(folded, page, re.S)
    assert f'href="{reverse("page-service", args=["web"])}?env=dev' in page
    assert f'href="{reverse("page-deployment", args=[7])}"' in page
    # Host networking publishes no port: the one Berth gave the replica is shown.
    assert "<code>24010/tcp</code>" in page and "host network / none" not in page
    ignored = client.get(url, {"state": "melted", "sort": "size"}).content.decode()
    assert "Ignored:" in ignored and "state is one of" in ignored


def test_the_environment_page_passes_its_filters_to_the_list(client, personas):
    client.force_login(personas["developer"])
    page = client.get(reverse("env-page", args=["dev"]), {"state": "running", "q": "x"})
    src = reverse("env-containers-fragment", args=["dev"]) + "?state=running&amp;q=x"
    assert f'data-src="{src}"' in page.content.decode()
