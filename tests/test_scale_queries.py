"""Every page and API list runs the same number of queries whatever the amount of data:
measured with a small set and a larger one (more environments, all granted to the
developer, more services, deployments, promotions and audit events)."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.test import Client

from tests import scale

LARGER = scale.Scale(
    environments=45, services=30, deployments=400, audit_events=600, promotions=40, pipelines=12
)


def _counts(dataset: scale.Scale) -> dict[str, tuple[int, int]]:
    """``{route: (queries, status)}`` as the developer, the data rolled back afterwards."""
    with transaction.atomic():
        names = scale.seed(dataset)
        client = Client()
        client.force_login(names["developer"])
        found = {}
        for _, key, url in scale.routes(names):
            queries, _, status = scale.measure(client, url)
            found[key] = (queries, status)
        transaction.set_rollback(True)
    return found


@pytest.mark.django_db
def test_pages_and_api_lists_run_a_constant_number_of_queries():
    small, larger = _counts(scale.SMALL), _counts(LARGER)
    assert {route: status for route, (_, status) in larger.items()} == dict.fromkeys(larger, 200)
    grown = {
        route: f"{small[route][0]} → {larger[route][0]}"
        for route in small
        if larger[route][0] != small[route][0]
    }
    assert not grown, f"queries grow with the data: {grown}"
    # The service page shows at most PANELS environments, five or six queries each.
    assert max(queries for queries, _ in larger.values()) <= 60, larger
