"""Whole numbers from text a person typed (query strings, form fields, socket options).

``str.isdigit()`` is not the test: it accepts ``²`` and ``٣``, which ``int()`` then refuses
or reads as another number, and ``int()`` of a few thousand digits is itself an error.
Only ASCII digits count here, and a number too long to matter costs nothing to read.
"""

from __future__ import annotations

import re

__all__ = ["HUGE", "MAX_ID", "parse_id", "parse_whole"]

MAX_ID = 2**63 - 1  # the largest primary key any database Berth runs on stores
HUGE = 10**30  # what a number of more than 30 digits reads as: more than anything counted
_DIGITS = re.compile(r"[0-9]+")


def parse_whole(value: object) -> int | None:
    """``value`` as a non-negative int when it is a string of ASCII digits, else None.
    A number of more than 30 digits reads as :data:`HUGE`."""
    if not isinstance(value, str) or not _DIGITS.fullmatch(value):
        return None
    digits = value.lstrip("0") or "0"
    return HUGE if len(digits) > 30 else int(digits)


def parse_id(value: object) -> int | None:
    """``value`` as a primary key (1 to :data:`MAX_ID`), else None."""
    number = parse_whole(value)
    return number if number is not None and 1 <= number <= MAX_ID else None
