"""Waiting for a condition instead of sleeping a fixed time: the tests run on loaded machines (two test
processes on two cores, and whatever else runs there), where "0.2 s later" promises nothing.

The timeout is a bound on a slow machine, never an expectation: each wait returns as soon as its
condition holds, and fails saying what never became true.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

#: How long a condition may take to become true on a slow machine before the test gives up.
PATIENCE = 30.0


async def eventually(check: Callable[[], object], what: str, timeout: float = PATIENCE) -> None:
    """Wait until ``check()`` is true; fail saying ``what`` when it never is within ``timeout``."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never true: {what}")
        await asyncio.sleep(0.05)


def eventually_sync(check: Callable[[], object], what: str, timeout: float = PATIENCE) -> None:
    """:func:`eventually` for tests without an event loop (it blocks the calling thread)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never true: {what}")
        time.sleep(0.05)
