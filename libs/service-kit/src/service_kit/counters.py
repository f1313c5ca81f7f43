"""Window counters for the rate limiter (ratelimit.py): shared ones in Redis, and the process's
own in memory for while Redis fails. A window starts with its first count and lasts the limit's
period (the counter expires with it). The shared counters go through an `AutoPipeline`
(redis.py): the counts of the requests of one event-loop turn take one round trip together.
"""

from __future__ import annotations

import time
from typing import Protocol

from limits.aio.storage import MemoryStorage

from service_kit.redis import AutoPipeline


class Counters(Protocol):
    async def add(self, name: str, period: int, amount: int) -> int: ...

    async def resets_at(self, name: str, period: int) -> float: ...


class RedisCounters:
    def __init__(self, pipeline: AutoPipeline) -> None:
        self.pipeline = pipeline

    async def add(self, name: str, period: int, amount: int) -> int:
        """Add `amount` (0: only read) to counter `name`, whose window lasts `period` s; the
        count after it."""
        _, value = await self.pipeline.execute_many(
            [
                ("SET", name, 0, "EX", period, "NX"),  # a new window: created with its expiry
                ("INCRBY", name, amount),
            ]
        )
        return int(value)

    async def resets_at(self, name: str, period: int) -> float:
        """When the window of counter `name` ends (epoch seconds)."""
        left_ms = int(await self.pipeline.execute("PTTL", name))
        # no TTL (-1) or no key (-2): a fresh window
        return time.time() + (left_ms / 1000 if left_ms >= 0 else float(period))


class MemoryCounters:
    """This process's counters (expired windows are dropped by `limits`' memory storage)."""

    def __init__(self) -> None:
        self.storage = MemoryStorage()

    async def add(self, name: str, period: int, amount: int) -> int:
        if amount:
            return int(await self.storage.incr(name, period, amount))
        return int(await self.storage.get(name))

    async def resets_at(self, name: str, period: int) -> float:
        if await self.storage.get(name):
            return float(await self.storage.get_expiry(name))
        return time.time() + period
