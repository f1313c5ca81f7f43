"""orders-service application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
from redis.asyncio import Redis

from orders_service.api.routes import router
from orders_service.config import Settings, get_settings
from orders_service.db.session import make_sessionmaker
from orders_service.logging import setup_logging
from service_kit import web
from service_kit.db import make_engine, ping
from service_kit.health import health_router

log = structlog.get_logger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    setup_logging(settings)
    engine = make_engine(settings.database_url, settings.db_connect_timeout_seconds)
    redis = Redis.from_url(
        settings.redis_url, socket_timeout=0.1, socket_connect_timeout=0.1, retry_on_timeout=False
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        log.info("orders.started")
        yield
        await redis.aclose()
        await engine.dispose()
        log.info("orders.stopped")

    app = FastAPI(
        title="orders-service",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.redis = redis
    web.install(app, settings)

    async def redis_ping() -> None:
        await redis.ping()

    app.include_router(
        health_router(
            {"postgres": lambda: ping(engine), "redis": redis_ping},
            optional=frozenset({"redis"}),
        )
    )
    app.include_router(router)
    return app


app = create_app()
