"""auth-service application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI

from auth_service.api.routes import build_router
from auth_service.config import Settings, get_settings
from auth_service.db.session import make_sessionmaker
from auth_service.logging import setup_logging
from auth_service.services.security import PasswordHasher
from auth_service.services.tokens import TokenService
from service_kit import web
from service_kit.db import make_engine, ping
from service_kit.health import health_router
from service_kit.proxies import TrustedProxies
from service_kit.ratelimit import RateLimiter
from service_kit.redis import make_redis

log = structlog.get_logger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    setup_logging(settings)
    # Keys and the dummy hash first: a missing or broken key stops the start here.
    tokens = TokenService.from_settings(settings)
    hasher = PasswordHasher(settings.bcrypt_rounds)
    trusted = TrustedProxies(settings.trusted_proxies)
    limiter = RateLimiter(settings.redis_url, enabled=settings.rate_limit_enabled)
    engine = make_engine(settings.database_url, settings.db_connect_timeout_seconds)
    redis = make_redis(settings.redis_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        log.info(
            "auth.started",
            kid=tokens.keys.kid,
            verification_keys=len(tokens.keys.public_keys),
            bcrypt_rounds=settings.bcrypt_rounds,
            rate_limit_enabled=settings.rate_limit_enabled,
        )
        yield
        await redis.aclose()
        await engine.dispose()
        log.info("auth.stopped")

    app = web.create_service_app("auth-service", settings, lifespan)
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.redis = redis
    app.state.tokens = tokens
    app.state.hasher = hasher

    app.include_router(
        health_router(
            {"postgres": lambda: ping(engine), "redis": web.redis_check(redis)},
            optional=frozenset({"redis"}),
        )
    )
    app.include_router(build_router(limiter, settings, trusted))
    return app


app = create_app()
