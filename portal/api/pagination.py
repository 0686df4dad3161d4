"""The API's pagination: DRF's limit and offset, with a largest page and strict numbers.

* ``limit`` (default ``PAGE_SIZE``): rows per page, a whole number from 1. Larger than
  :attr:`BoundedLimitOffsetPagination.max_limit` (500) is *clamped* to 500, as DRF's
  ``max_limit`` does: the answer's ``next`` link goes on from there.
* ``offset`` (default 0): a whole number from 0. Past the last row the page is empty.
* Anything else (``-1``, ``1.5``, ``abc``, ``²``) is a 400 naming the parameter, where
  DRF silently used the default, and a huge limit went to the database and failed (500).
* ``count`` is exact up to :attr:`BoundedLimitOffsetPagination.count_bound` (10,000) rows
  and ``count_exact`` is true. A longer list is not counted to its end (an exact count
  reads every row, and costs more than the page): ``count_exact`` is false, ``count`` is
  a lower bound, and ``next`` is there as long as a row follows the page.
"""

from __future__ import annotations

from django.db.models import QuerySet
from rest_framework import exceptions
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response

from portal.core.numbers import parse_whole

__all__ = ["BoundedLimitOffsetPagination"]

#: More rows than any list holds; a larger offset is past the end without asking.
MAX_ROWS = 2**62


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    max_limit = 500
    count_bound = 10_000

    def get_count(self, queryset) -> int:
        """Rows, counted up to one past :attr:`count_bound` (the order does not change a
        count, and would make the database sort every row)."""
        if isinstance(queryset, QuerySet):
            return queryset.order_by()[: self.count_bound + 1].count()
        return len(queryset)

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.limit = self.get_limit(request)
        if self.limit is None:
            return None
        counted = self.get_count(queryset)
        self.offset = self.get_offset(request)
        self.count_exact = counted <= self.count_bound
        if self.count_exact:
            self.count = counted
            past_the_end = counted == 0 or self.offset >= counted
            rows = [] if past_the_end else list(queryset[self.offset : self.offset + self.limit])
        elif self.offset > MAX_ROWS:  # no database holds as many rows (nor takes the OFFSET)
            rows = []
            self.count = self.count_bound
        else:
            rows = list(queryset[self.offset : self.offset + self.limit + 1])
            more = len(rows) > self.limit
            rows = rows[: self.limit]
            # A lower bound: every row up to this page's end, one more if one follows.
            self.count = max(self.count_bound, self.offset + len(rows) + more)
        if self.count > self.limit and self.template is not None:
            self.display_page_controls = True
        return rows

    def get_paginated_response(self, data):
        return Response(
            {
                "count": self.count,
                "count_exact": self.count_exact,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        answer = super().get_paginated_response_schema(schema)
        answer["properties"]["count"]["description"] = (
            f"Rows in all, exact up to {self.count_bound}; beyond, a lower bound "
            "(count_exact is false)."
        )
        answer["properties"] = {
            "count": answer["properties"].pop("count"),
            "count_exact": {
                "type": "boolean",
                "description": f"Whether count is exact: false past {self.count_bound} rows.",
            },
            **answer["properties"],
        }
        answer["required"] = [*answer["required"], "count_exact"]
        return answer

    def _number(self, request, name: str, low: int) -> int | None:
        raw = request.query_params.get(name, "")
        if raw == "":
            return None
        number = parse_whole(raw)
        if number is None or number < low:
            what = "rows per page" if name == self.limit_query_param else "rows to skip"
            raise exceptions.ValidationError(
                {name: [f"{name} is a whole number of {what}, from {low}: not {raw[:40]!r}."]}
            )
        return number

    def get_limit(self, request):
        limit = self._number(request, self.limit_query_param, low=1)
        if limit is None:
            return self.default_limit
        return min(limit, self.max_limit)

    def get_offset(self, request):
        return self._number(request, self.offset_query_param, low=0) or 0

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.limit_query_param:
                parameter["schema"]["minimum"] = 1
                parameter["description"] += f" At most {self.max_limit}: larger is clamped."
            elif parameter["name"] == self.offset_query_param:
                parameter["schema"]["minimum"] = 0
        return parameters
