"""The API's pagination: DRF's limit and offset, with a largest page and strict numbers.

* ``limit`` (default ``PAGE_SIZE``): rows per page, a whole number from 1. Larger than
  :attr:`BoundedLimitOffsetPagination.max_limit` (500) is *clamped* to 500, as DRF's
  ``max_limit`` does: the answer's ``next`` link goes on from there.
* ``offset`` (default 0): a whole number from 0. Past the last row the page is empty.
* Anything else (``-1``, ``1.5``, ``abc``, ``²``) is a 400 naming the parameter, where
  DRF silently used the default, and a huge limit went to the database and failed (500).
"""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.pagination import LimitOffsetPagination

from portal.core.numbers import parse_whole

__all__ = ["BoundedLimitOffsetPagination"]


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    max_limit = 500

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
