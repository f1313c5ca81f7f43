"""Request dependencies: the current user (Bearer token), the session, the cache, the rate limit,
the `Idempotency-Key` header."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import OAuth2PasswordBearer
from pydantic import AfterValidator, WithJsonSchema

from orders_service.config import Settings
from orders_service.db.session import SessionDep
from orders_service.services.cache import CachedOrder, OrderCache
from orders_service.token_verifier import TokenVerifier
from service_kit.errors import Unauthorized
from service_kit.proxies import TrustedProxies, client_ip
from service_kit.ratelimit import Limit, RateLimiter, rate_limit

# tokenUrl is relative to the page: through the gateway, Swagger's Authorize button posts the
# password form to auth-service's /token/.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/token/", auto_error=False)

RATE_LIMIT_SCOPE = "orders"
UNAUTHENTICATED_SCOPE = "orders-unauthenticated"

# Visible ASCII (0x21-0x7E): a key survives every HTTP hop unchanged (no spaces to trim, no
# charset to guess). The draft's quoted form ("...") is such a key too, quotes included.
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]+$"
MAX_IDEMPOTENCY_KEY_LENGTH = 255


@dataclass(frozen=True)
class UnauthenticatedLimit:
    """Calls without a valid token, per client IP. Once an address has used up its budget it
    is refused before its token is even looked at (verifying costs CPU); each call that fails
    authentication counts, valid ones do not."""

    limiter: RateLimiter
    limits: list[Limit]
    trusted: TrustedProxies

    async def refuse_if_exhausted(self, request: Request) -> None:
        await self.limiter.refuse_if_exceeded(
            self.limits, UNAUTHENTICATED_SCOPE, self._key(request)
        )

    async def count(self, request: Request) -> None:
        await self.limiter.count(self.limits, UNAUTHENTICATED_SCOPE, self._key(request))

    def _key(self, request: Request) -> str:
        return f"ip:{client_ip(request, self.trusted)}"


async def caller_within_limit(
    request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> int:
    """`CallerWithinLimit`: the caller, authenticated (see `authenticate`), then counted against
    the per-user limit: 429 once over it. The one dependency that every /orders route but
    GET /orders/{order_id}/ starts from (that one counts with its cache read:
    `cached_read_within_limit`); FastAPI resolves each dependency on every request."""
    caller_id = await authenticate(request, token)
    check: RateLimitCheck = request.app.state.rate_limit_check
    await check(request)
    return caller_id


async def authenticate(request: Request, token: str | None) -> int:
    """The caller's user id from its Bearer token; 401 without a valid one."""
    verifier: TokenVerifier = request.app.state.tokens
    known = verifier.known_user(token) if token else None
    if known is not None:  # verified before, still valid: not a call without a valid token
        request.state.user_id = known
        return known
    unauthenticated: UnauthenticatedLimit = request.app.state.unauthenticated_limit
    await unauthenticated.refuse_if_exhausted(request)
    try:
        if not token:
            raise Unauthorized("not authenticated")
        user_id = verifier.verify(token)
    except Unauthorized:
        await unauthenticated.count(request)
        raise
    request.state.user_id = user_id  # the rate limit's key
    return user_id


async def get_cache(request: Request) -> OrderCache:  # async: no hop to the thread pool
    cache: OrderCache = request.app.state.cache
    return cache


RateLimitCheck = Callable[[Request], Awaitable[None]]


def make_rate_limit_check(
    limiter: RateLimiter, limit: str, trusted: TrustedProxies
) -> RateLimitCheck:
    """One limit shared by every /orders call, counted per user (per client IP without a user)."""

    def key(request: Request) -> str:
        user_id = getattr(request.state, "user_id", None)
        return f"user:{user_id}" if user_id is not None else f"ip:{client_ip(request, trusted)}"

    return rate_limit(limiter, limit, RATE_LIMIT_SCOPE, key)


@dataclass(frozen=True)
class CachedRead:
    """What GET /orders/{order_id}/ starts from: the caller, and what the cache holds."""

    caller_id: int
    cached: CachedOrder | None


async def cached_read_within_limit(
    request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> CachedRead:
    """GET /orders/{order_id}/'s rate limit and cache read at once: both are sent to Redis in
    the same round trip (service_kit.redis.AutoPipeline) instead of one after the other. The
    read is only ever answered within the limit: over it, it is dropped and the 429 raised. An
    `order_id` that is not a UUID reads nothing (the route answers 422). It authenticates the
    caller itself: one dependency less to resolve on the hottest route."""
    caller_id = await authenticate(request, token)
    check: RateLimitCheck = request.app.state.rate_limit_check
    try:
        order_id = uuid.UUID(request.path_params["order_id"])
    except ValueError:
        await check(request)
        return CachedRead(caller_id, None)
    cache: OrderCache = request.app.state.cache
    # queued before the count: the read is done by the time the count's reply wakes this up
    read = cache.get(order_id)
    try:
        await check(request)
    except BaseException:
        read.cancel()
        raise
    return CachedRead(caller_id, await read)


def _idempotency_key(value: str | None) -> str | None:
    if value is not None and not (
        len(value) <= MAX_IDEMPOTENCY_KEY_LENGTH and re.fullmatch(IDEMPOTENCY_KEY_PATTERN, value)
    ):
        raise ValueError("an Idempotency-Key is 1 to 255 visible ASCII characters, no spaces")
    return value


def idempotency_key_ttl(request: Request) -> timedelta:
    """How long an `Idempotency-Key` is kept (settings.idempotency_key_ttl_hours)."""
    settings: Settings = request.app.state.settings
    return timedelta(hours=settings.idempotency_key_ttl_hours)


IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Makes retries safe: for at least 24 hours, a repeat with the same key "
        "and body answers the first response again (same order, no second event). "
        "1 to 255 visible ASCII characters (0x21-0x7E); a new UUID per order is a good key.",
    ),
    AfterValidator(_idempotency_key),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_IDEMPOTENCY_KEY_LENGTH,
            "pattern": IDEMPOTENCY_KEY_PATTERN,
        }
    ),
]
CallerWithinLimit = Annotated[int, Depends(caller_within_limit)]
Session = SessionDep
Cache = Annotated[OrderCache, Depends(get_cache)]
CachedReadWithinLimit = Annotated[CachedRead, Depends(cached_read_within_limit)]
