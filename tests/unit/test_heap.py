"""Start-up objects are frozen out of the garbage collector's walks."""

import gc

from portal.core.heap import freeze_loaded


def test_what_a_process_loaded_is_frozen():
    gc.unfreeze()
    try:
        frozen = freeze_loaded()
        assert frozen == gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
