"""The API's JSON parser: DRF's, with the nesting of a body bounded and NUL characters
refused.

Python's JSON decoder recurses once per level, so a body of 50,000 ``[`` raised a
RecursionError (a 500) before any view ran, and a body a few hundred levels deep got
through to code that recurses again (validation, rendering). Bodies are already bounded
in size by ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (413, see :mod:`portal.api.exceptions`).
"""

from __future__ import annotations

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

__all__ = ["MAX_DEPTH", "BoundedJSONParser", "has_nul", "nesting_exceeds"]

MAX_DEPTH = 64


def nesting_exceeds(value, limit: int) -> bool:
    """Whether ``value`` nests lists and objects more than ``limit`` levels deep
    (iteratively, so the check itself never recurses)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def has_nul(value) -> bool:
    """Whether a NUL character stands in any key or string of ``value`` (iteratively).
    No database keeps one (PostgreSQL refuses it in text), so none gets past the door."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


class BoundedJSONParser(JSONParser):
    """JSON bodies nested at most ``max_depth`` levels; deeper ones are a 400."""

    max_depth = MAX_DEPTH

    def parse(self, stream, media_type=None, parser_context=None):
        too_deep = ParseError(
            f"JSON parse error - the body is nested more than {self.max_depth} levels deep."
        )
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise too_deep from None
        if nesting_exceeds(data, self.max_depth):
            raise too_deep
        if has_nul(data):
            raise ParseError("JSON parse error - a string holds a NUL character (\\u0000).")
        return data
