"""Start-up objects are frozen out of the garbage collector's walks."""

import gc

from portal.core.heap import freeze_loaded


def test_what_a_process_loaded_is_frozen():
    gc.unfreeze()
    try:
        frozen = freeze_loaded()
        now = gc.get_freeze_count()
        assert frozen > 10_000
        # What it reports is the frozen count; in the whole suite, threads of earlier
        # tests may free a frozen object or freeze again in between (seen: one more).
        assert abs(now - frozen) <= frozen // 1000, (frozen, now)
    finally:
        gc.unfreeze()
