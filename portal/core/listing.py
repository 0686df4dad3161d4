"""One small mechanism for every list: search, filters, sort and page, read from the
query string, so a filtered view is a URL that can be shared.

A list declares a :class:`ListSpec` (what may be searched, filtered and sorted); pages
call :meth:`ListSpec.read` then :meth:`ListSpec.apply` and paginate on the server; the
API list of the same objects calls the same spec, with ``strict=True`` so that a value
that is not what the parameter takes is a 400 naming it (pages ignore it and say so).
Nothing here knows a model: specs name lookups, and the kernel imports no app.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from math import ceil
from urllib.parse import urlencode

from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.functional import cached_property

from portal.core.numbers import parse_id, parse_whole

__all__ = ["SINCE", "BoundedPaginator", "Filter", "ListSpec", "ListState", "ListError"]

MAX_TEXT = 200
MAX_PAGE_SIZE = 200
#: Rows a page's paginator counts at most: past it the page says "more than 1,000" and
#: links on to the next page, instead of counting every row of a large table.
COUNT_BOUND = 1000

#: The choices of a time filter: how far back.
SINCE = {
    "1h": ("last hour", timedelta(hours=1)),
    "24h": ("last 24 hours", timedelta(days=1)),
    "7d": ("last 7 days", timedelta(days=7)),
    "30d": ("last 30 days", timedelta(days=30)),
}


class ListError(ValueError):
    """A query parameter a strict list refuses: ``{param: message}``."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class Filter:
    """One filter: ``?<param>=value`` keeps rows whose ``lookup`` equals the value.

    ``kind`` is ``text`` (any short text), ``id`` (a primary key), ``choice`` (one of ``choices``, given as
    ``[(value, label)]`` or computed per request by the caller), or ``since`` (one of
    :data:`SINCE`, rows whose ``lookup`` is newer). ``lookup`` may be a callable
    ``value -> Q`` for filters that are not one field.
    """

    param: str
    lookup: str | object
    label: str
    kind: str = "text"
    choices: tuple = ()

    def q(self, value: str) -> Q:
        if callable(self.lookup):
            return self.lookup(value)
        if self.kind == "since":
            return Q(**{f"{self.lookup}__gte": timezone.now() - SINCE[value][1]})
        return Q(**{self.lookup: value})


@dataclass(frozen=True)
class ListSpec:
    """What a list lets people search, filter and sort by."""

    search: tuple[str, ...] = ()  # lookups searched with icontains, any of them
    filters: tuple[Filter, ...] = ()
    sorts: dict = field(default_factory=dict)  # name -> (label, order_by fields)
    default_sort: str = ""
    page_size: int = 25
    search_label: str = "Search"
    count_bound: int = COUNT_BOUND

    def read(self, params, *, strict: bool = False, choices: dict | None = None) -> ListState:
        """The list's state from a query dict. ``choices`` gives per-request choices of
        ``choice`` filters (``{param: [(value, label)]}``). Unknown values are dropped
        (and listed in ``state.ignored``), or raise :class:`ListError` when ``strict``."""
        choices = choices or {}
        errors: dict[str, str] = {}
        values: dict[str, str] = {}

        def text(name: str) -> str:
            raw = params.get(name, "") or ""
            if "\x00" in raw or len(raw) > MAX_TEXT:
                errors[name] = f"{name} is text of at most {MAX_TEXT} characters, without NUL."
                return ""
            return raw.strip()

        query = text("q") if self.search else ""
        for spec in self.filters:
            value = text(spec.param)
            if not value:
                continue
            if spec.kind == "id" and parse_id(value) is None:
                errors[spec.param] = (
                    f"{spec.param} is an id, a whole number from 1: not {value[:40]!r}."
                )
                continue
            allowed = self.allowed(spec, choices)
            if allowed is not None and value not in allowed:
                errors[spec.param] = (
                    f"{spec.param} is one of {', '.join(sorted(allowed)[:20]) or 'nothing here'}: "
                    f"not {value[:40]!r}."
                )
                continue
            values[spec.param] = value
        sort = text("sort")
        if sort and sort not in self.sorts:
            errors["sort"] = f"sort is one of {', '.join(self.sorts)}: not {sort[:40]!r}."
            sort = ""
        raw_page = params.get("page", "") or ""
        page = parse_whole(raw_page) if raw_page else 1
        if page is None or page < 1:
            errors["page"] = f"page is a whole number from 1: not {raw_page[:40]!r}."
            page = 1
        if strict and errors:
            raise ListError(errors)
        return ListState(
            spec=self,
            query=query,
            values=values,
            sort=sort or self.default_sort,
            page=page,
            ignored=errors,
            choices=choices,
        )

    def allowed(self, spec: Filter, choices: dict) -> set[str] | None:
        if spec.kind == "since":
            return set(SINCE)
        if spec.kind == "choice":
            return {str(v) for v, _ in choices.get(spec.param, spec.choices)}
        return None

    def apply(self, queryset, state: ListState):
        """``queryset`` searched, filtered and sorted as ``state`` says (lazily)."""
        if state.query and self.search:
            match = Q()
            for lookup in self.search:
                match |= Q(**{f"{lookup}__icontains": state.query})
            queryset = queryset.filter(match)
        for spec in self.filters:
            if spec.param in state.values:
                queryset = queryset.filter(spec.q(state.values[spec.param]))
        if state.sort:
            queryset = queryset.order_by(*self.sorts[state.sort][1])
        return queryset

    def apply_rows(self, rows, state: ListState) -> list:
        """:meth:`apply` for rows in memory (what an engine answers, not a queryset):
        lookups are attribute paths, ``labels__berth.service`` reading a key of a dict;
        text matches case-insensitively, filters by equality, sorts by the same names
        (``-`` first: descending). Filters whose ``lookup`` is a callable are skipped."""
        rows = list(rows)
        if state.query and self.search:
            needle = state.query.casefold()
            rows = [
                r
                for r in rows
                if any(needle in str(_value(r, lookup)).casefold() for lookup in self.search)
            ]
        for spec in self.filters:
            if spec.param in state.values and not callable(spec.lookup):
                wanted = state.values[spec.param]
                rows = [r for r in rows if str(_value(r, spec.lookup)) == wanted]
        if state.sort:
            for key in reversed(self.sorts[state.sort][1]):
                name = key.lstrip("-")
                rows.sort(key=lambda r, n=name: str(_value(r, n)), reverse=key.startswith("-"))
        return rows


def _value(row, path: str):
    """``row``'s value at a lookup path: attributes or dict keys, ``__`` between them."""
    for part in path.split("__"):
        row = row.get(part, "") if isinstance(row, dict) else getattr(row, part, "")
    return "" if row is None else row


@dataclass
class ListState:
    """A list as one request asked for it; builds the links that keep it."""

    spec: ListSpec
    query: str
    values: dict[str, str]
    sort: str
    page: int
    ignored: dict[str, str]
    choices: dict

    def paginate(self, rows):
        """The requested page of ``rows`` (a queryset counts on the server, at most
        ``count_bound`` rows; past the last page is the last page)."""
        return BoundedPaginator(rows, self.spec.page_size, bound=self.spec.count_bound).get_page(
            self.page
        )

    def params(self, **changes) -> dict[str, str]:
        current = {"q": self.query, **self.values}
        if self.sort != self.spec.default_sort:
            current["sort"] = self.sort
        current.update({k: v for k, v in changes.items()})
        return {k: str(v) for k, v in current.items() if v not in ("", None)}

    def url(self, **changes) -> str:
        """``?…`` for this state with ``changes`` (a page link: ``url(page=3)``)."""
        query = urlencode(self.params(**changes))
        return f"?{query}" if query else "?"

    @property
    def active(self) -> bool:
        """Whether anything narrows the list (for "clear" links and empty messages)."""
        return bool(self.query or self.values)

    def controls(self) -> list[dict]:
        """The filters as the shared template draws them."""
        out = []
        for spec in self.spec.filters:
            if spec.kind == "since":
                options = [(k, label) for k, (label, _) in SINCE.items()]
            elif spec.kind == "choice" or spec.param in self.choices:
                options = [
                    (str(v), label) for v, label in self.choices.get(spec.param, spec.choices)
                ]
            else:
                options = None
            out.append(
                {
                    "param": spec.param,
                    "label": spec.label,
                    "value": self.values.get(spec.param, ""),
                    "options": options,
                }
            )
        return out

    @property
    def sort_options(self) -> list[tuple[str, str]]:
        return [(name, label) for name, (label, _) in self.spec.sorts.items()]


class BoundedPaginator(Paginator):
    """A paginator that counts a queryset only up to ``bound`` rows.

    An exact ``COUNT(*)`` reads every row the list's filters keep, and a busy audit log
    has hundreds of thousands: the count would cost more than the page. Up to ``bound``
    rows it behaves as Django's paginator (``exact`` is true). Beyond, ``count`` is
    ``bound`` as a lower bound (``exact`` false, pages say "more than"), any page number
    is accepted, and whether a next page exists is read from the page itself (one row
    more than it shows). A page past the end is the last page, found by counting then:
    the one case that needs the exact number. Lists in memory are counted exactly.
    """

    def __init__(self, object_list, per_page, *, bound: int = COUNT_BOUND, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self.bound = bound
        self._exact_count: int | None = None

    @cached_property
    def _counted(self) -> int:
        if not isinstance(self.object_list, QuerySet):
            return len(self.object_list)
        # The order does not change a count, and would make the database sort every row.
        return self.object_list.order_by()[: self.bound + 1].count()

    @property
    def exact(self) -> bool:
        return self._exact_count is not None or self._counted <= self.bound

    @property
    def count(self) -> int:
        if self._exact_count is not None:
            return self._exact_count
        return min(self._counted, self.bound)

    @property
    def num_pages(self) -> int:
        """Pages in all (exact), or the pages the bound covers (a lower bound)."""
        if self.count == 0 and not self.allow_empty_first_page:
            return 0
        return ceil(max(1, self.count - self.orphans) / self.per_page)

    def validate_number(self, number):
        if self.exact:
            return super().validate_number(number)
        try:
            number = int(number)
        except (TypeError, ValueError):
            raise PageNotAnInteger("That page number is not an integer") from None
        if number < 1:
            raise EmptyPage("That page number is less than 1")
        return number

    def page(self, number):
        if self.exact:
            return super().page(number)
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        # More rows than any list holds (and an OFFSET the database refuses): past the end.
        rows = list(self.object_list[bottom : bottom + self.per_page + 1]) if bottom < 2**62 else []
        if not rows:
            raise EmptyPage("That page contains no results")
        return BoundedPage(rows[: self.per_page], number, self, more=len(rows) > self.per_page)

    def get_page(self, number):
        try:
            return super().get_page(number)
        except EmptyPage:  # past the end of a list counted only up to its bound
            self._exact_count = self.object_list.count()
            return super().page(self.num_pages)


class BoundedPage(Page):
    """A page of a list whose count stopped at its bound: it knows its own next page."""

    def __init__(self, object_list, number, paginator, *, more: bool):
        super().__init__(object_list, number, paginator)
        self.more = more

    def has_next(self) -> bool:
        return self.more

    def end_index(self) -> int:
        return (self.number - 1) * self.paginator.per_page + len(self.object_list)
