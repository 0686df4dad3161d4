"""Sizes as Docker takes them."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["parse_memory"]

_MEMORY = re.compile(r"^(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>[kmgKMG]i?[bB]?|[bB])?$")
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_memory(value: Any) -> int:
    """``"256m"``, ``"1g"``, ``"512MiB"`` or a number of bytes, as bytes."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a memory size: use e.g. 256m, 1g or 512MiB.")
    match = _MEMORY.match(str(value).strip())
    if not match:
        raise ValueError(f"{value!r} is not a memory size: use e.g. 256m, 1g or 512MiB.")
    unit = (match["unit"] or "").lower()[:1]
    size = int(float(match["number"]) * _UNITS[unit])
    if size < 4 * 1024**2:
        raise ValueError(f"{value!r} is below Docker's minimum of 4m.")
    return size
