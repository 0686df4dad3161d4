"""Long lists are counted only up to a bound: pages say "more than N" and still page on
to the end, the API answers ``count_exact: false`` with a ``next`` link while rows
follow; short lists are counted exactly, as before."""

from __future__ import annotations

import dataclasses

import pytest
from django.test import Client
from django.urls import reverse

from portal.api.pagination import BoundedLimitOffsetPagination
from portal.core.listing import BoundedPaginator
from portal.models import AuditEvent

pytestmark = pytest.mark.django_db


def _events(environment, how_many: int, action: str = "bounded.test") -> list[int]:
    """``how_many`` audit events in ``environment``, newest first by id."""
    AuditEvent.objects.bulk_create(
        AuditEvent(
            action=action,
            target_type="test",
            target_repr=f"event {i}",
            environment=environment,
            environment_name=environment.name,
            actor_name="seed",
        )
        for i in range(how_many)
    )
    return list(
        AuditEvent.objects.filter(action=action)
        .order_by("-created_at", "-id")
        .values_list("pk", flat=True)
    )


def test_a_list_within_the_bound_is_counted_exactly(environments):
    ids = _events(environments["dev"], 7)
    paginator = BoundedPaginator(AuditEvent.objects.filter(action="bounded.test"), 3, bound=7)
    assert paginator.exact and paginator.count == 7 and paginator.num_pages == 3
    page = paginator.get_page(3)
    assert [e.pk for e in page] == ids[6:] and not page.has_next()
    assert paginator.get_page(99).number == 3  # past the end: the last page


def test_a_list_past_the_bound_pages_on_to_its_end(environments):
    ids = _events(environments["dev"], 11)
    events = AuditEvent.objects.filter(action="bounded.test").order_by("-created_at", "-id")
    paginator = BoundedPaginator(events, 3, bound=5)
    assert not paginator.exact and paginator.count == 5  # a lower bound: "more than 5"
    pages = [paginator.get_page(n) for n in (1, 2, 3, 4)]
    assert [[e.pk for e in page] for page in pages] == [ids[0:3], ids[3:6], ids[6:9], ids[9:]]
    assert [page.has_next() for page in pages] == [True, True, True, False]
    assert pages[3].has_previous() and pages[3].end_index() == 11


def test_a_page_past_the_end_of_a_bounded_list_is_its_last_page(environments):
    ids = _events(environments["dev"], 11)
    events = AuditEvent.objects.filter(action="bounded.test").order_by("-created_at", "-id")
    paginator = BoundedPaginator(events, 3, bound=5)
    page = paginator.get_page(40)
    assert page.number == 4 and [e.pk for e in page] == ids[9:]
    assert paginator.exact and paginator.count == 11  # counted to the end this once
    assert paginator.get_page("x").number == 1


def test_the_audit_page_says_more_than_and_links_to_the_next_page(
    environments, personas, monkeypatch
):
    from portal import views

    monkeypatch.setattr(views, "AUDIT", dataclasses.replace(views.AUDIT, count_bound=5))
    _events(environments["dev"], 130)  # three pages of 50
    client = Client()
    client.force_login(personas["developer"])
    body = client.get(reverse("audit-log")).content.decode()
    assert "more than 5 in all" in body and 'rel="next"' in body
    body = client.get(reverse("audit-log"), {"page": 3}).content.decode()
    assert "Page 3 · more than 5" in body and 'rel="prev"' in body


def test_the_api_says_when_its_count_is_a_lower_bound(environments, api_for, monkeypatch):
    ids = _events(environments["dev"], 12)
    url = reverse("audit-event-list")
    exact = api_for("developer").get(url, {"action": "bounded.test", "limit": 5}).data
    assert exact["count"] == 12 and exact["count_exact"] is True

    monkeypatch.setattr(BoundedLimitOffsetPagination, "count_bound", 4)
    client = api_for("developer")
    seen, answer = [], client.get(url, {"action": "bounded.test", "limit": 5}).data
    while True:
        assert answer["count_exact"] is False and answer["count"] >= 4
        seen += [event["id"] for event in answer["results"]]
        if not answer["next"]:
            break
        answer = client.get(answer["next"]).data
    assert seen == ids  # every row once, in order, and the last page has no next link
    past = client.get(url, {"action": "bounded.test", "limit": 5, "offset": 50}).data
    assert past["results"] == [] and past["next"] is None


def test_a_stranger_still_counts_nothing(environments, api_for):
    _events(environments["ops"], 3)
    answer = api_for("stranger").get(reverse("audit-event-list")).data
    assert answer == {
        "count": 0,
        "count_exact": True,
        "next": None,
        "previous": None,
        "results": [],
    }


def test_a_huge_offset_or_page_of_a_bounded_list_is_past_the_end_not_an_error(
    environments, api_for, personas, monkeypatch
):
    from portal import views

    ids = _events(environments["dev"], 12)
    monkeypatch.setattr(BoundedLimitOffsetPagination, "count_bound", 4)
    url = reverse("audit-event-list")
    for offset in ("99999999999999999999", str(2**63), "9" * 40):
        answer = api_for("developer").get(url, {"action": "bounded.test", "offset": offset})
        assert answer.status_code == 200, answer.content
        assert answer.data["results"] == [] and answer.data["next"] is None

    monkeypatch.setattr(views, "AUDIT", dataclasses.replace(views.AUDIT, count_bound=5))
    client = Client()
    client.force_login(personas["developer"])
    for page in ("99999999999999999999", "9" * 40):
        response = client.get(reverse("audit-log"), {"action": "bounded.test", "page": page})
        assert response.status_code == 200
        assert response.context["page"].number == 1  # 12 events, 50 a page: the last is 1
        assert [e.pk for e in response.context["page"]] == ids
