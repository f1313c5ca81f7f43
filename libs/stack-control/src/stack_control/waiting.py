"""Waiting in tests for something the stack does in its own time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(
    probe: Callable[[], T | None], seconds: float, what: str, interval: float = 0.2
) -> T:
    """Poll `probe` until it returns something truthy and return that; after `seconds`, fail
    the test with `what` (an AssertionError, which pytest reports as a failure)."""
    deadline = time.monotonic() + seconds
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {seconds:.0f} s")
        time.sleep(interval)
