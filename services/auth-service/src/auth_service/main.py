"""auth-service application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI

from auth_service.api.routes import build_router
from auth_service.config import Settings, get_settings
from auth_service.services.access_tokens import TokenService
from auth_service.services.security import PasswordHasher
from service_kit.app import add_routes, create_api_app
from service_kit.db import make_engine
from service_kit.logging import configure_logging
from service_kit.proxies import TrustedProxies
from service_kit.ratelimit import RateLimiter
from service_kit.redis import AutoPipeline, make_redis

log = structlog.get_logger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging("auth-service", settings.log_level, settings.log_json)
    # Keys and the dummy hash first: a missing or broken key stops the start here.
    tokens = TokenService.from_settings(settings)
    hasher = PasswordHasher(settings.bcrypt_rounds)
    trusted = TrustedProxies(settings.trusted_proxies)
    engine = make_engine(settings.database_url, settings.db_connect_timeout_seconds)
    redis = make_redis(settings.redis_url)
    limiter = RateLimiter(AutoPipeline(redis), enabled=settings.rate_limit_enabled)

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

    app = create_api_app("auth-service", settings, lifespan, engine=engine, redis=redis)
    app.state.tokens = tokens
    app.state.hasher = hasher

    add_routes(app, build_router(limiter, settings, trusted))
    return app


app = create_app()
