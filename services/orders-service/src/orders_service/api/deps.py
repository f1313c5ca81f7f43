"""Request dependencies: the current user (Bearer token), the session, the cache, the rate limit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from limits import RateLimitItem

from orders_service.db.session import SessionDep
from orders_service.services.cache import OrderCache
from orders_service.services.tokens import TokenVerifier
from service_kit.errors import Unauthorized
from service_kit.proxies import TrustedProxies, client_ip
from service_kit.ratelimit import RateLimiter, rate_limit

# tokenUrl is relative to the page: through the gateway, Swagger's Authorize button posts the
# password form to auth-service's /token/.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/token/", auto_error=False)

RATE_LIMIT_SCOPE = "orders"
UNAUTHENTICATED_SCOPE = "orders-unauthenticated"


@dataclass(frozen=True)
class UnauthenticatedLimit:
    """Calls without a valid token, per client IP. Once an address has used up its budget it
    is refused before its token is even looked at (verifying costs CPU); each call that fails
    authentication counts, valid ones do not."""

    limiter: RateLimiter
    limits: list[RateLimitItem]
    trusted: TrustedProxies

    async def refuse_if_exhausted(self, request: Request) -> None:
        await self.limiter.refuse_if_exceeded(
            self.limits, UNAUTHENTICATED_SCOPE, self._key(request)
        )

    async def count(self, request: Request) -> None:
        await self.limiter.count(self.limits, UNAUTHENTICATED_SCOPE, self._key(request))

    def _key(self, request: Request) -> str:
        return f"ip:{client_ip(request, self.trusted)}"


async def current_user_id(
    request: Request, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> int:
    unauthenticated: UnauthenticatedLimit = request.app.state.unauthenticated_limit
    await unauthenticated.refuse_if_exhausted(request)
    verifier: TokenVerifier = request.app.state.tokens
    try:
        if not token:
            raise Unauthorized("not authenticated")
        user_id = verifier.verify(token)
    except Unauthorized:
        await unauthenticated.count(request)
        raise
    request.state.user_id = user_id  # the rate limit's key
    return user_id


def get_cache(request: Request) -> OrderCache:
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


async def rate_limited(request: Request, _: Annotated[int, Depends(current_user_id)]) -> None:
    """After authentication (so the key is the user): 429 once the user is over the limit."""
    check: RateLimitCheck = request.app.state.rate_limit_check
    await check(request)


CurrentUser = Annotated[int, Depends(current_user_id)]
Session = SessionDep
Cache = Annotated[OrderCache, Depends(get_cache)]
