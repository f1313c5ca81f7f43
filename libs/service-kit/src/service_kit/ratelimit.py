"""Rate limiting shared across replicas: fixed windows (each starts with its key's first count)
counted in Redis, every request counted and answered from the shared count; the counters
(counters.py) pipeline the requests of one event-loop turn into one round trip, and a slow,
hung or unresolvable Redis never blocks the event loop.

Every check is bounded by a short timeout. When Redis fails, counting falls back to per-process
memory (logged once) and Redis is tried again after a back-off, so the API stays up and still
limits, per replica. A limit that is exceeded is a `TooManyRequests` (429 with `Retry-After`,
the seconds until the window resets). A key refused once is refused again from memory until its
window resets, without asking Redis: the shared count cannot go down before then, and a
throttled client's flood must be cheap to turn away. Who the client is (the socket peer or,
behind the gateway, X-Forwarded-For) is `proxies.py`'s.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import NoReturn, TypeVar

import structlog
from fastapi import Request
from limits import parse_many

from service_kit.counters import Counters, MemoryCounters, RedisCounters
from service_kit.errors import TooManyRequests
from service_kit.logging import Throttled
from service_kit.redis import AutoPipeline

log = structlog.get_logger(__name__)

KEY_PREFIX = "ratelimit"
MAX_BACKOFF_SECONDS = 30.0
# Keys remembered as refused until their window resets (the oldest forgotten first).
REMEMBERED_REFUSALS = 10_000
# a flood is refused request by request, but logged once a second
_log_exceeded = Throttled(log, "ratelimit.exceeded")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Limit:
    """`amount` calls per window of `period` seconds; `text` says it ("10 per 1 minute")."""

    amount: int
    period: int
    text: str


def parse_limits(text: str) -> list[Limit]:
    """`limits` syntax, several separated by ";": "10/minute", "5/second;100/hour"."""
    return [Limit(item.amount, item.get_expiry(), str(item)) for item in parse_many(text)]


class RateLimiter:
    def __init__(self, redis: AutoPipeline, enabled: bool = True) -> None:
        """`redis`: the service's pipeline (the cache's too, so that both share round trips);
        its bound is each check's."""
        self.enabled = enabled
        self.shared = RedisCounters(redis)
        self.local = MemoryCounters()
        self._failures = 0
        self._retry_shared_at = 0.0
        self._refused_until: dict[tuple[str, str, str], float] = {}

    async def check(self, limits: Sequence[Limit], scope: str, key: str) -> None:
        """Count one request of `key` against each limit; TooManyRequests once one is exceeded."""
        if not self.enabled:
            return
        for item in limits:
            self._refuse_if_remembered(item, scope, key)
            if await self._add(item, scope, key, 1) > item.amount:
                await self._refuse(item, scope, key)

    async def refuse_if_exceeded(self, limits: Sequence[Limit], scope: str, key: str) -> None:
        """TooManyRequests when `key` has used up a limit already; counts nothing."""
        if not self.enabled:
            return
        for item in limits:
            self._refuse_if_remembered(item, scope, key)
            if await self._add(item, scope, key, 0) >= item.amount:
                await self._refuse(item, scope, key)

    async def count(self, limits: Sequence[Limit], scope: str, key: str) -> None:
        """Count one request of `key` against each limit, refusing nothing (see above)."""
        if not self.enabled:
            return
        for item in limits:
            await self._add(item, scope, key, 1)

    def _refuse_if_remembered(self, item: Limit, scope: str, key: str) -> None:
        remembered = (scope, key, item.text)
        until = self._refused_until.get(remembered)
        if until is None:
            return
        left = until - time.time()
        if left <= 0:
            del self._refused_until[remembered]
            return
        _log_exceeded(scope=scope, limit=item.text)
        raise TooManyRequests(f"rate limit exceeded: {item.text}", max(1, math.ceil(left)))

    async def _refuse(self, item: Limit, scope: str, key: str) -> NoReturn:
        name, period = _counter(item, scope, key)
        resets_at = await self._on_counters(lambda counters: counters.resets_at(name, period))
        self._refused_until[(scope, key, item.text)] = resets_at
        if len(self._refused_until) > REMEMBERED_REFUSALS:
            del self._refused_until[next(iter(self._refused_until))]
        retry_after = max(1, math.ceil(resets_at - time.time()))
        _log_exceeded(scope=scope, limit=item.text)
        raise TooManyRequests(f"rate limit exceeded: {item.text}", retry_after)

    async def _add(self, item: Limit, scope: str, key: str, amount: int) -> int:
        """The count of `key`'s current window of `item` after adding `amount`."""
        name, period = _counter(item, scope, key)
        return await self._on_counters(lambda counters: counters.add(name, period, amount))

    async def _on_counters(self, op: Callable[[Counters], Awaitable[T]]) -> T:
        """`op` on the shared counters in Redis, or on this process's while Redis is failing
        (each call bounded by the pipeline's bound)."""
        if time.monotonic() >= self._retry_shared_at:
            try:
                result = await op(self.shared)
            except Exception as exc:  # Redis down, hung or gone: count locally for a while
                self._fail(exc)
            else:
                if self._failures:
                    log.info("ratelimit.redis_recovered", after_failures=self._failures)
                    self._failures = 0
                return result
        return await op(self.local)

    def _fail(self, exc: Exception) -> None:
        self._failures += 1
        backoff = min(MAX_BACKOFF_SECONDS, 2.0 ** min(self._failures, 5))
        self._retry_shared_at = time.monotonic() + backoff
        if self._failures == 1:
            log.warning("ratelimit.redis_unavailable", error=type(exc).__name__, fallback="memory")


def _counter(item: Limit, scope: str, key: str) -> tuple[str, int]:
    """The counter of `key` for `item` in `scope`, and its window's length in seconds."""
    return f"{KEY_PREFIX}/{scope}/{key}/{item.amount}per{item.period}s", item.period


def rate_limit(
    limiter: RateLimiter, limits: str, scope: str, key: Callable[[Request], str]
) -> Callable[[Request], Awaitable[None]]:
    """A FastAPI dependency: one request of `key(request)` against `limits` in `scope`."""
    items = parse_limits(limits)

    async def check_rate_limit(request: Request) -> None:
        await limiter.check(items, scope, key(request))

    return check_rate_limit
