"""orders-service application factory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI

from orders_service.api.deps import UnauthenticatedLimit, make_rate_limit_check
from orders_service.api.routes import router
from orders_service.config import Settings, get_settings
from orders_service.metrics import refresh_forever
from orders_service.services.cache import OrderCache
from orders_service.token_verifier import make_verifier
from service_kit.app import add_routes, create_api_app
from service_kit.breaker import CircuitBreaker
from service_kit.db import make_engine
from service_kit.logging import configure_logging
from service_kit.proxies import TrustedProxies
from service_kit.ratelimit import RateLimiter, parse_limits
from service_kit.redis import AutoPipeline, make_redis

log = structlog.get_logger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging("orders-service", settings.log_level, settings.log_json)
    engine = make_engine(settings.database_url, settings.db_connect_timeout_seconds)
    redis = make_redis(settings.redis_url, settings.cache_timeout_seconds)
    # the cache's reads and the rate limit's counts share round trips (service_kit.redis)
    pipeline = AutoPipeline(redis, bound_seconds=settings.cache_timeout_seconds * 4)
    cache = OrderCache(
        redis,
        pipeline,
        settings.cache_ttl_seconds,
        CircuitBreaker("redis", settings.cache_breaker_seconds, event_prefix="cache"),
        enabled=settings.cache_enabled,
    )
    tokens = make_verifier(settings)
    trusted = TrustedProxies(settings.trusted_proxies)
    limiter = RateLimiter(pipeline, enabled=settings.rate_limit_enabled)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await tokens.start()  # never fails on an unreachable auth-service: retried in background
        gauges = asyncio.create_task(refresh_forever(app.state.sessionmaker))
        log.info("orders.started")
        try:
            yield
        finally:
            gauges.cancel()
            await tokens.stop()
            await cache.close()
            await redis.aclose()
            await engine.dispose()
            log.info("orders.stopped")

    app = create_api_app("orders-service", settings, lifespan, engine=engine, redis=redis)
    app.state.cache = cache
    app.state.tokens = tokens
    app.state.limiter = limiter
    app.state.rate_limit_check = make_rate_limit_check(limiter, settings.rate_limit, trusted)
    app.state.unauthenticated_limit = UnauthenticatedLimit(
        limiter, parse_limits(settings.rate_limit_unauthenticated), trusted
    )

    add_routes(app, router)
    return app


app = create_app()
