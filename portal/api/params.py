"""Query parameters of the API, read strictly: a value that is not what the parameter
takes is a 400 naming the parameter, never a 500 and never silently another filter."""

from __future__ import annotations

from rest_framework import exceptions

from portal.core.numbers import MAX_ID, parse_id

__all__ = ["query_id", "query_text"]


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


def query_text(request, name: str, max_length: int = 200) -> str | None:
    """The text in ``?<name>=``; None when absent or empty. A NUL character (which
    PostgreSQL refuses in any string) or more than ``max_length`` characters is a 400."""
    raw = request.query_params.get(name, "")
    if raw == "":
        return None
    if "\x00" in raw or len(raw) > max_length:
        raise exceptions.ValidationError(
            {name: [f"{name} is text of at most {max_length} characters, without NUL."]}
        )
    return raw
