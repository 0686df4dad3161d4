"""The API's JSON parser: DRF's, with the nesting of a body bounded and characters no
database stores (NUL, lone surrogates: :mod:`portal.core.text`) refused.

Python's JSON decoder recurses once per level, so a body of 50,000 ``[`` raised a
RecursionError (a 500) before any view ran, and a body a few hundred levels deep got
through to code that recurses again (validation, rendering). Bodies are already bounded
in size by ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (413, see :mod:`portal.api.exceptions`).
"""

from __future__ import annotations

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from portal.core.text import unstorable

__all__ = ["MAX_DEPTH", "BoundedJSONParser", "nesting_exceeds"]

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
        if problem := unstorable(data):
            raise ParseError(f"JSON parse error - a string holds {problem}.")
        return data
