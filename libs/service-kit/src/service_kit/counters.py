"""Window counters for the rate limiter (ratelimit.py): shared ones in Redis, and the process's
own in memory for while Redis fails. A window starts with its first count and lasts the limit's
period (the counter expires with it). The shared counters go through an `AutoPipeline`
(redis.py): the counts of the requests of one event-loop turn take one round trip together,
one command (a script) each.
"""

from __future__ import annotations

import hashlib
import time
from typing import Protocol

from limits.aio.storage import MemoryStorage
from redis.exceptions import NoScriptError

from service_kit.redis import AutoPipeline


class Counters(Protocol):
    async def add(self, name: str, period: int, amount: int) -> int: ...

    async def resets_at(self, name: str, period: int) -> float: ...


# One command per count: a new window is created with its expiry, then counted.
_ADD = """
redis.call('SET', KEYS[1], 0, 'EX', ARGV[1], 'NX')
return redis.call('INCRBY', KEYS[1], ARGV[2])
"""
_ADD_SHA = hashlib.sha1(_ADD.encode(), usedforsecurity=False).hexdigest()  # EVALSHA's id


class RedisCounters:
    def __init__(self, pipeline: AutoPipeline) -> None:
        self.pipeline = pipeline

    async def add(self, name: str, period: int, amount: int) -> int:
        """Add `amount` (0: only read) to counter `name`, whose window lasts `period` s; the
        count after it."""
        try:
            value = await self.pipeline.execute("EVALSHA", _ADD_SHA, 1, name, period, amount)
        except NoScriptError:  # a Redis restarted or flushed: EVAL loads the script again
            value = await self.pipeline.execute("EVAL", _ADD, 1, name, period, amount)
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
