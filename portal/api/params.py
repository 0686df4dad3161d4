"""Query parameters of the API, read strictly: a value that is not what the parameter
takes is a 400 naming the parameter, never a 500 and never silently another filter."""

from __future__ import annotations

from rest_framework import exceptions

from portal.core.listing import ListError, ListSpec, ListState
from portal.core.numbers import MAX_ID, parse_id

__all__ = ["query_id", "query_list", "query_text"]


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


def query_list(request, spec: ListSpec, **choices) -> ListState:
    """The search, filters and sort of an API list, read by the same spec as the page
    that lists the same objects; a value the spec refuses is a 400 naming it."""
    try:
        return spec.read(request.query_params, strict=True, choices=choices)
    except ListError as exc:
        raise exceptions.ValidationError({k: [v] for k, v in exc.errors.items()}) from None


def list_parameters(spec: ListSpec) -> list:
    """The OpenAPI parameters of a list's spec (search, filters, sort)."""
    from drf_spectacular.utils import OpenApiParameter

    parameters = []
    if spec.search:
        parameters.append(
            OpenApiParameter(
                "q", str, description=f"Rows whose {', '.join(spec.search)} contain this text."
            )
        )
    for f in spec.filters:
        kind = int if f.kind == "id" else str
        enum = None
        if f.kind == "since":
            from portal.core.listing import SINCE

            enum = list(SINCE)
        elif f.kind == "choice" and f.choices:
            enum = [str(v) for v, _ in f.choices]
        parameters.append(OpenApiParameter(f.param, kind, description=f.label, enum=enum))
    if spec.sorts:
        parameters.append(
            OpenApiParameter("sort", str, enum=list(spec.sorts), description="Order of the rows.")
        )
    return parameters
