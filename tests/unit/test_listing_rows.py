"""``ListSpec.apply_rows``: the list mechanism on rows in memory (an engine's answer)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.http import QueryDict

from portal.core.listing import Filter, ListSpec


@dataclass
class Row:
    name: str
    state: str
    created: str
    labels: dict = field(default_factory=dict)


SPEC = ListSpec(
    search=("name", "labels__berth.service"),
    filters=(
        Filter("state", "state", "State", kind="choice", choices=(("running", "running"), ("exited", "exited"))),
        Filter("service", "labels__berth.service", "Service"),
    ),
    sorts={"-created": ("Newest", ("-created",)), "name": ("Name", ("name",)), "state": ("State", ("state", "name"))},
    default_sort="-created",
)  # fmt: skip
ROWS = [
    Row("web-1", "running", "2026-01-02", {"berth.service": "web"}),
    Row("api-1", "exited", "2026-01-03", {"berth.service": "api"}),
    Row("loose", "running", "2026-01-01"),
    Row("web-2", "exited", "2026-01-04", {"berth.service": "web"}),
]


def names(query: str) -> list[str]:
    state = SPEC.read(QueryDict(query))
    return [r.name for r in SPEC.apply_rows(ROWS, state)]


def test_search_filters_and_sorts_rows_in_memory():
    assert names("") == ["web-2", "api-1", "web-1", "loose"]
    assert names("sort=name") == ["api-1", "loose", "web-1", "web-2"]
    assert names("sort=state") == ["api-1", "web-2", "loose", "web-1"]
    assert names("state=running") == ["web-1", "loose"]
    assert names("service=web&state=exited") == ["web-2"]
    assert names("q=API") == ["api-1"]  # a label's value, any case
    assert names("q=nothing") == []


def test_unknown_values_are_ignored_and_named():
    state = SPEC.read(QueryDict("state=melted&sort=size"))
    assert set(state.ignored) == {"state", "sort"}
    assert [r.name for r in SPEC.apply_rows(ROWS, state)] == ["web-2", "api-1", "web-1", "loose"]
