"""Keeping what a process loaded at start-up out of the cyclic garbage collector.

Python's collector walks every tracked object on each full collection: in a Berth
server or worker that is some 150,000 objects of Django, DRF, Channels, Celery and the
docker SDK, about 100-200 ms each time, holding the GIL, every few hundred requests or
tasks. None of it is ever garbage: it lives as long as the process. Frozen once the
process has loaded everything (``gc.freeze``), it is skipped; full collections then
walk only what came after.
"""

from __future__ import annotations

import gc

__all__ = ["freeze_loaded"]


def freeze_loaded() -> int:
    """Load every URL pattern (so views and serializers are loaded now, not on the first
    request), collect once, then freeze what is left; returns how many objects."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - imports every view module
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
