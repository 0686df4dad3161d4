"""Characters no database of Berth's stores: NUL (PostgreSQL refuses it in text) and
lone UTF-16 surrogates (``"\\ud800"``, which a JSON or YAML escape can write but no UTF-8
text holds: SQLite cannot encode it, PostgreSQL's json refuses it). Documents from
outside are checked once, at the door, so nothing half-stored breaks a page later."""

from __future__ import annotations

import re

__all__ = ["unstorable"]

_BAD = re.compile("[\x00\ud800-\udfff]")


def unstorable(value) -> str:
    """A description of the first unstorable character in any key or string of ``value``
    (walked iteratively), or ""."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if found := _BAD.search(item):
                char = found.group()
                return (
                    "a NUL character (\\u0000)"
                    if char == "\x00"
                    else (f"a lone surrogate (\\u{ord(char):04x}), which is not a character")
                )
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return ""
