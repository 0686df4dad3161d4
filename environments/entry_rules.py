"""Entry-point reservations: the ports and host names an administrator reserves for one
environment's entry points (``Environment.entry_ports`` and ``entry_hosts``), parsed and
matched. Pure functions, no database: the model validates with them, the deploy policy
decides with them.

A reserved port serves that environment only; an environment with ports of its own
uses only those. A host name belongs to the environment whose pattern names it most
closely (an exact name before a wildcard, a longer wildcard before a shorter one), so
Ops may hold ``*.example.com`` while Test holds ``*.test.example.com``.
"""

from __future__ import annotations

import re

__all__ = [
    "HOST_NAME", "MAX_HOST_PATTERNS", "MAX_PORT_RANGES", "closeness", "in_ranges", "overlap",
    "host_owner", "parse_host_patterns", "parse_ports", "port_range", "ports_text",
]  # fmt: skip

HOST_NAME = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)
MAX_PORT_RANGES = 50
MAX_HOST_PATTERNS = 50
_PORT = re.compile(r"[0-9]{1,5}")
_EXACT = 1_000  # an exact name is closer than any wildcard (at most 253 characters)


def parse_ports(text: str) -> list[tuple[int, int]]:
    """``"80, 443, 18000-18999"`` as ``[(80, 80), (443, 443), (18000, 18999)]``; raises
    ValueError naming the part that is not a port or a range of ports."""
    ranges = []
    for part in (p.strip() for p in (text or "").split(",")):
        if not part:
            continue
        low, dash, high = (s.strip() for s in part.partition("-"))
        if not _PORT.fullmatch(low) or (dash and not _PORT.fullmatch(high)):
            raise ValueError(f"{part[:40]!r} is not a port or a range such as 18000-18999.")
        first, last = int(low), int(high) if dash else int(low)
        if not 1 <= first <= last <= 65535:
            raise ValueError(f"{part!r}: ports run from 1 to 65535, the lower one first.")
        ranges.append((first, last))
        if len(ranges) > MAX_PORT_RANGES:
            raise ValueError(f"At most {MAX_PORT_RANGES} ports or ranges.")
    ranges.sort()
    for (a_first, a_last), (b_first, b_last) in zip(ranges, ranges[1:], strict=False):
        if b_first <= a_last:
            raise ValueError(
                f"{port_range(a_first, a_last)} and {port_range(b_first, b_last)} overlap."
            )
    return ranges


def in_ranges(port: int, ranges: list[tuple[int, int]]) -> bool:
    return any(first <= port <= last for first, last in ranges)


def overlap(ours: list[tuple[int, int]], theirs: list[tuple[int, int]]) -> tuple[int, int] | None:
    """The first range of ports both lists hold, or None."""
    for a_first, a_last in ours:
        for b_first, b_last in theirs:
            if max(a_first, b_first) <= min(a_last, b_last):
                return max(a_first, b_first), min(a_last, b_last)
    return None


def parse_host_patterns(value) -> list[str]:
    """A list of host names (``shop.example.com``) and wildcards (``*.example.com``, any
    name under it), lower-cased; raises ValueError naming the one that is neither."""
    if value in (None, ""):
        return []
    if not isinstance(value, list) or len(value) > MAX_HOST_PATTERNS:
        raise ValueError(
            f'Give a list of at most {MAX_HOST_PATTERNS} host names, e.g. ["shop.example.com", '
            '"*.example.com"].'
        )
    patterns = []
    for item in value:
        name = item.strip().lower() if isinstance(item, str) else ""
        if not HOST_NAME.fullmatch(name.removeprefix("*.")):
            raise ValueError(
                f"{str(item)[:60]!r} is not a host name such as shop.example.com or a "
                "wildcard such as *.example.com."
            )
        if name not in patterns:
            patterns.append(name)
    return patterns


def closeness(host: str, pattern: str) -> int | None:
    """How closely ``pattern`` names ``host`` (higher is closer), or None when it does
    not name it. ``*.example.com`` names every host under example.com, not itself."""
    if pattern.startswith("*."):
        suffix = pattern[1:]
        return len(suffix) if host.endswith(suffix) else None
    return _EXACT if host == pattern else None


def host_owner(host: str, reservations):
    """Which of ``reservations`` (pairs of an owner and its host patterns) names ``host``
    most closely, or None when none names it."""
    best, owner = None, None
    for candidate, patterns in reservations:
        for pattern in patterns:
            score = closeness(host, pattern)
            if score is not None and (best is None or score > best):
                best, owner = score, candidate
    return owner


def port_range(first: int, last: int) -> str:
    """``80`` or ``18000-18999``: a range as people write it."""
    return str(first) if first == last else f"{first}-{last}"


def ports_text(ranges: list[tuple[int, int]]) -> str:
    """Ranges in the form :func:`parse_ports` reads: ``80, 443, 18000-18999``."""
    return ", ".join(port_range(first, last) for first, last in ranges)
