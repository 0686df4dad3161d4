"""Query parameters of the API, read strictly: a value that is not what the parameter
takes is a 400 naming the parameter, never a 500 and never silently another filter."""

from __future__ import annotations

from rest_framework import exceptions

from portal.core.numbers import MAX_ID, parse_id

__all__ = ["query_id"]


def query_id(request, name: str) -> int | None:
    """The id in ``?<name>=``; None when the parameter is absent or empty."""
    raw = request.query_params.get(name, "")
    if raw == "":
        return None
    number = parse_id(raw)
    if number is None:
        raise exceptions.ValidationError(
            {name: [f"{name} is an id, a whole number from 1 to {MAX_ID}: not {raw[:40]!r}."]}
        )
    return number
