"""The order cache in Redis: read-through on GET, refreshed after a PATCH commits, and a circuit
breaker so that a Redis outage costs each request nothing.

Key `orders:order:{id}`, value the Order JSON (`OrderRead`), TTL `ORDERS_CACHE_TTL_SECONDS` (300).

Stale values. A reader that missed the cache reads the row, then writes it to Redis; a PATCH
that commits in between refreshes the key with the new row. Whichever write lands last must not
be the older row. Every write therefore goes through one Lua script that sets the key only if
the value already cached is not newer, comparing `updated_at`: the Order JSON writes it at a fixed
width (`YYYY-MM-DDTHH:MM:SS.ffffffZ`), so string order is time order, and a PATCH always moves
`updated_at` forward (it is taken under the row lock and kept above the previous value, see
services/orders.py). So a slow reader's old row never replaces a PATCH's newer one, and two
PATCHes whose refreshes arrive out of order leave the later state.

A PATCH whose refresh cannot reach Redis (Redis down, breaker open) is remembered in memory and
written (with the same script) as soon as Redis answers again, so an order cached before an outage
does not come back stale afterwards. Only if this process stops before Redis returns can an old
value outlive the change, for at most the TTL.

Failures. The client uses socket timeouts of at most 100 ms and one retry. A failure opens the
breaker: for `ORDERS_CACHE_BREAKER_SECONDS` Redis is skipped altogether and every endpoint answers
from PostgreSQL; then one request probes Redis, closing the breaker if it answers. Opening and
closing are each logged once.
"""

from __future__ import annotations

import asyncio
import functools
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import structlog
from prometheus_client import Counter
from redis.asyncio import Redis
from redis.exceptions import RedisError

from orders_service.schemas import OrderRead
from service_kit.breaker import CircuitBreaker
from service_kit.redis import AutoPipeline

log = structlog.get_logger(__name__)

CACHE_OPERATIONS = Counter(
    "orders_cache_operations_total",
    "Order cache operations by outcome",
    ["operation", "outcome"],  # hit, miss, unreadable, stored, kept_newer, skipped, error
)

# Set KEYS[1] to ARGV[1] with TTL ARGV[3] unless the cached value's updated_at is later than
# ARGV[2]. Returns 1 when written, 0 when a newer value was kept.
_SET_IF_NOT_NEWER = """
local current = redis.call('GET', KEYS[1])
if current then
  local ok, cached = pcall(cjson.decode, current)
  if ok and type(cached) == 'table' and type(cached['updated_at']) == 'string'
     and cached['updated_at'] > ARGV[2] then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[3]))
return 1
"""

REDIS_ERRORS = (RedisError, OSError, TimeoutError)
# Refreshes kept for replay while Redis is unreachable (beyond this, the oldest are dropped and
# those orders may be stale for up to the TTL).
MAX_UNSYNCED = 10_000
# What `_call` answers when Redis was not asked (switched off, breaker open) or failed: unlike
# None, which is Redis's own answer (a missing key).
UNAVAILABLE: Final = object()


ORDER_FIELDS = frozenset(OrderRead.model_fields)


@dataclass(frozen=True)
class CachedOrder:
    """An order as the cache holds it: the Order JSON, and its owner for the access check."""

    json: bytes
    user_id: int

    @classmethod
    def parse(cls, raw: bytes) -> CachedOrder | None:
        """None unless `raw` is an Order JSON object (every field of OrderRead, an integer
        owner): anything else is treated as a miss and read again from PostgreSQL."""
        try:
            data = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(data, dict) or data.keys() != ORDER_FIELDS:
            return None
        owner = data["user_id"]
        if not isinstance(owner, int) or isinstance(owner, bool):
            return None
        return cls(raw, owner)


def order_key(order_id: uuid.UUID) -> str:
    return f"orders:order:{order_id}"


class OrderCache:
    def __init__(
        self,
        redis: Redis,
        pipeline: AutoPipeline,
        ttl_seconds: int,
        breaker: CircuitBreaker,
        enabled: bool = True,
    ) -> None:
        self.redis = redis
        self.pipeline = pipeline  # reads share round trips with other requests' (the limiter's)
        self.ttl_seconds = ttl_seconds
        self.breaker = breaker
        self.enabled = enabled
        self._set_if_not_newer = redis.register_script(_SET_IF_NOT_NEWER)
        self._unsynced: dict[uuid.UUID, OrderRead] = {}
        self._replay: asyncio.Task[None] | None = None
        self._dropping = False

    def get(self, order_id: uuid.UUID) -> asyncio.Future[CachedOrder | None]:
        """The cached order's JSON and owner, or None on a miss, an unreadable value or a Redis
        failure. The JSON is answered as it is: it was written by `OrderRead` (the one mapping)
        and is checked for its shape here, not validated again field by field.

        The GET is queued at once, in the pipeline's next batch: a command the caller sends
        right after (the rate limit's count) shares the round trip, and this future is done
        before that command's reply wakes the caller."""
        answer: asyncio.Future[CachedOrder | None] = asyncio.get_running_loop().create_future()
        if not self._allowed("get"):
            answer.set_result(None)
            return answer
        reply = self.pipeline.submit([("GET", order_key(order_id))])
        reply.add_done_callback(functools.partial(self._on_get_reply, order_id, answer))
        return answer

    def _on_get_reply(
        self,
        order_id: uuid.UUID,
        answer: asyncio.Future[CachedOrder | None],
        reply: asyncio.Future[list[Any]],
    ) -> None:
        try:
            cached = self._parse_reply(order_id, reply)
        except Exception as exc:  # not Redis's failure: the caller's to see
            if not answer.done():
                answer.set_exception(exc)
            return
        if not answer.done():  # else cancelled: the caller went away
            answer.set_result(cached)

    def _parse_reply(
        self, order_id: uuid.UUID, reply: asyncio.Future[list[Any]]
    ) -> CachedOrder | None:
        if reply.cancelled():  # nobody awaits it to cancel it; were it ever, no answer
            return None
        error = reply.exception()
        if error is not None:
            if not isinstance(error, REDIS_ERRORS):
                raise error
            self._failed("get", error)
            return None
        self._succeeded()
        (raw,) = reply.result()
        if raw is None:
            CACHE_OPERATIONS.labels("get", "miss").inc()
            return None
        cached = CachedOrder.parse(raw)
        if cached is None:
            log.warning("cache.unreadable_value", order_id=str(order_id))
            CACHE_OPERATIONS.labels("get", "unreadable").inc()
            return None
        CACHE_OPERATIONS.labels("get", "hit").inc()
        return cached

    async def fill(self, order: OrderRead) -> None:
        """After a miss: store the row just read, unless the cache already holds a newer one."""
        await self._store("fill", order)

    async def refresh(self, order: OrderRead) -> None:
        """After a change has committed: store the new state (a newer one already there wins).
        If Redis cannot take it now, it is written once Redis answers again."""
        if not await self._store("refresh", order) and self.enabled:
            self._remember(order)

    async def close(self) -> None:
        if self._replay is not None:
            self._replay.cancel()

    async def _store(self, operation: str, order: OrderRead) -> bool:
        """True once Redis has run the versioned write (stored, or kept a newer value)."""
        data = order.model_dump(mode="json")
        written = await self._call(
            operation,
            self._set_if_not_newer,
            keys=[order_key(order.id)],
            args=[order.model_dump_json(), data["updated_at"], self.ttl_seconds],
        )
        if written is UNAVAILABLE:
            return False
        CACHE_OPERATIONS.labels(operation, "stored" if written else "kept_newer").inc()
        return True

    def _remember(self, order: OrderRead) -> None:
        known = self._unsynced.get(order.id)
        if known is not None and known.updated_at > order.updated_at:
            return
        if known is None and len(self._unsynced) >= MAX_UNSYNCED:
            del self._unsynced[next(iter(self._unsynced))]
            if not self._dropping:
                log.warning("cache.unsynced_dropped", kept=MAX_UNSYNCED)
                self._dropping = True
        self._unsynced[order.id] = order

    async def _replay_unsynced(self) -> None:
        replayed = 0
        try:
            while self._unsynced:
                order_id, order = next(iter(self._unsynced.items()))
                if not await self._store("replay", order):
                    return  # Redis failed again; kept for the next recovery
                if self._unsynced.get(order_id) is order:
                    del self._unsynced[order_id]
                replayed += 1
        finally:
            self._replay = None
            self._dropping = bool(self._unsynced) and self._dropping
            if replayed:
                log.info("cache.refreshes_replayed", count=replayed, left=len(self._unsynced))

    async def _call(self, operation: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Redis's answer to `fn(*args, **kwargs)`, or UNAVAILABLE when Redis was skipped or
        failed (counted, and reported to the breaker)."""
        if not self._allowed(operation):
            return UNAVAILABLE
        try:
            result = await fn(*args, **kwargs)
        except REDIS_ERRORS as exc:
            self._failed(operation, exc)
            return UNAVAILABLE
        self._succeeded()
        return result

    def _allowed(self, operation: str) -> bool:
        """False (counted as skipped) while the cache is switched off or the breaker open."""
        if self.enabled and self.breaker.allow():
            return True
        CACHE_OPERATIONS.labels(operation, "skipped").inc()
        return False

    def _failed(self, operation: str, exc: BaseException) -> None:
        CACHE_OPERATIONS.labels(operation, "error").inc()
        self.breaker.failure(exc)

    def _succeeded(self) -> None:
        self.breaker.success()
        if self._unsynced and self._replay is None:
            self._replay = asyncio.create_task(self._replay_unsynced(), name="cache-replay")
