"""Rate limiting shared across replicas: fixed windows counted in Redis by the async storage of
`limits`, so a slow, hung or unresolvable Redis never blocks the event loop.

Every check is bounded by a short timeout. When Redis fails, counting falls back to per-process
memory (logged once) and Redis is tried again after a back-off, so the API stays up and still
limits, per replica. A limit that is exceeded is a `TooManyRequests` (429 with `Retry-After`,
the seconds until the window resets). A key refused once is refused again from memory until its
window resets, without asking Redis: the shared count cannot go down before then, and a
throttled client's flood must be cheap to turn away. Who the client is (the socket peer or,
behind the gateway, X-Forwarded-For) is `proxies.py`'s.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from operator import methodcaller
from typing import Any, NoReturn

import structlog
from fastapi import Request
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import FixedWindowRateLimiter

from service_kit.errors import TooManyRequests
from service_kit.logging import Throttled

log = structlog.get_logger(__name__)

KEY_PREFIX = "ratelimit"
MAX_BACKOFF_SECONDS = 30.0
# Keys remembered as refused until their window resets (the oldest forgotten first).
REMEMBERED_REFUSALS = 10_000
# a flood is refused request by request, but logged once a second
_log_exceeded = Throttled(log, "ratelimit.exceeded")


def parse_limits(text: str) -> list[RateLimitItem]:
    """`limits` syntax, several separated by ";": "10/minute", "5/second;100/hour"."""
    return parse_many(text)


class RateLimiter:
    def __init__(self, redis_url: str, enabled: bool = True, timeout_seconds: float = 0.1) -> None:
        self.enabled = enabled
        self.timeout = timeout_seconds
        shared = RedisStorage(
            f"async+{redis_url}",
            implementation="redispy",
            key_prefix=KEY_PREFIX,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
        )
        self._shared = FixedWindowRateLimiter(shared)
        self._local = FixedWindowRateLimiter(MemoryStorage())
        self._failures = 0
        self._retry_shared_at = 0.0
        self._refused_until: dict[tuple[str, str, str], float] = {}

    async def check(self, limits: Sequence[RateLimitItem], scope: str, key: str) -> None:
        """Count one request of `key` against each limit; TooManyRequests once one is exceeded."""
        if not self.enabled:
            return
        for item in limits:
            self._refuse_if_remembered(item, scope, key)
            if not await self._on_storage(methodcaller("hit", item, scope, key)):
                await self._refuse(item, scope, key)

    async def refuse_if_exceeded(
        self, limits: Sequence[RateLimitItem], scope: str, key: str
    ) -> None:
        """TooManyRequests when `key` has used up a limit already; counts nothing."""
        if not self.enabled:
            return
        for item in limits:
            self._refuse_if_remembered(item, scope, key)
            if not await self._on_storage(methodcaller("test", item, scope, key)):
                await self._refuse(item, scope, key)

    async def count(self, limits: Sequence[RateLimitItem], scope: str, key: str) -> None:
        """Count one request of `key` against each limit, refusing nothing (see above)."""
        if not self.enabled:
            return
        for item in limits:
            await self._on_storage(methodcaller("hit", item, scope, key))

    def _refuse_if_remembered(self, item: RateLimitItem, scope: str, key: str) -> None:
        remembered = (scope, key, str(item))
        until = self._refused_until.get(remembered)
        if until is None:
            return
        left = until - time.time()
        if left <= 0:
            del self._refused_until[remembered]
            return
        _log_exceeded(scope=scope, limit=str(item))
        raise TooManyRequests(f"rate limit exceeded: {item}", max(1, math.ceil(left)))

    async def _refuse(self, item: RateLimitItem, scope: str, key: str) -> NoReturn:
        stats = await self._on_storage(methodcaller("get_window_stats", item, scope, key))
        self._refused_until[(scope, key, str(item))] = stats.reset_time
        if len(self._refused_until) > REMEMBERED_REFUSALS:
            del self._refused_until[next(iter(self._refused_until))]
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        _log_exceeded(scope=scope, limit=str(item))
        raise TooManyRequests(f"rate limit exceeded: {item}", retry_after)

    async def _on_storage(self, op: Callable[[FixedWindowRateLimiter], Awaitable[Any]]) -> Any:
        """`op` on the shared counters in Redis, or on this process's while Redis is failing.
        The bound covers name resolution and connecting too."""
        if time.monotonic() >= self._retry_shared_at:
            try:
                async with asyncio.timeout(self.timeout * 4):
                    result = await op(self._shared)
            except Exception as exc:  # Redis down, hung or gone: count locally for a while
                self._fail(exc)
            else:
                if self._failures:
                    log.info("ratelimit.redis_recovered", after_failures=self._failures)
                    self._failures = 0
                return result
        return await op(self._local)

    def _fail(self, exc: Exception) -> None:
        self._failures += 1
        backoff = min(MAX_BACKOFF_SECONDS, 2.0 ** min(self._failures, 5))
        self._retry_shared_at = time.monotonic() + backoff
        if self._failures == 1:
            log.warning("ratelimit.redis_unavailable", error=type(exc).__name__, fallback="memory")


def rate_limit(
    limiter: RateLimiter, limits: str, scope: str, key: Callable[[Request], str]
) -> Callable[[Request], Awaitable[None]]:
    """A FastAPI dependency: one request of `key(request)` against `limits` in `scope`."""
    items = parse_limits(limits)

    async def check_rate_limit(request: Request) -> None:
        await limiter.check(items, scope, key(request))

    return check_rate_limit
