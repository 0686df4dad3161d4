"""The thread pool for the short blocking Docker calls of live viewers (inspects,
backlogs, download blocks), apart from the default executor the rest of the process
uses, so a burst of viewers never starves the ORM's thread."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

__all__ = ["run_io"]

_EXECUTOR = ThreadPoolExecutor(max_workers=8, thread_name_prefix="berth-logs-io")


async def run_io(function, *args, **kwargs):
    """``function`` in the live I/O pool (never on the loop, never thread-sensitive)."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_EXECUTOR, lambda: function(*args, **kwargs))
