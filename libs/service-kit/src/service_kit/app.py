"""A FastAPI app with the shared HTTP plumbing: request context, errors, CORS, metrics, docs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.telemetry import TelemetryConfig
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from service_kit.db import make_sessionmaker
from service_kit.docs import install_offline_docs
from service_kit.error_handlers import install_error_handlers
from service_kit.health import database_check, health_router, redis_check
from service_kit.metrics import install_metrics
from service_kit.middleware import REQUEST_ID_HEADER, HeadAsGet, JSONCORSMiddleware, RequestContext
from service_kit.settings import ServiceSettings

NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def create_service_app(
    title: str, settings: ServiceSettings, lifespan: Callable[[FastAPI], Any]
) -> FastAPI:
    """A FastAPI app with the shared plumbing installed (Swagger UI at /docs, served locally)."""
    app = FastAPI(
        title=title,
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        # The services export Prometheus metrics (service_kit.metrics), not OpenTelemetry:
        # FastAPI's native telemetry would look its providers up on every request for nothing.
        telemetry=NO_TELEMETRY,
    )
    app.state.settings = settings
    install(app, settings)
    return app


def create_api_app(
    title: str,
    settings: ServiceSettings,
    lifespan: Callable[[FastAPI], Any],
    *,
    engine: AsyncEngine,
    redis: Redis,
) -> FastAPI:
    """An API over PostgreSQL and Redis: the shared plumbing, `app.state.engine`, `.sessionmaker`
    (which `service_kit.db.get_session` uses) and `.redis`, and readiness that needs PostgreSQL
    and reports a Redis outage as degraded (the API keeps answering without it)."""
    app = create_service_app(title, settings, lifespan)
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.redis = redis
    add_routes(
        app,
        health_router(
            {"postgres": database_check(engine), "redis": redis_check(redis)},
            optional=frozenset({"redis"}),
        ),
    )
    return app


def add_routes(app: FastAPI, router: APIRouter) -> None:
    """`router`'s routes (its prefix, tags and dependencies applied already) at the front of the
    app's own: matched before those added earlier (docs, metrics), and directly. An included
    router (`app.include_router`) is resolved again on every request, which costs a hot route
    as much as its handler; the OpenAPI schema is the same."""
    app.router.routes[:0] = router.routes


def install(app: FastAPI, settings: ServiceSettings) -> None:
    """Everything a service needs besides its own routes."""
    # The middleware added last runs first: HEAD becomes GET, then CORS, then the request
    # context, whose answers (an unexpected error's too) therefore carry CORS headers.
    app.add_middleware(RequestContext)
    install_error_handlers(app)
    app.add_middleware(
        JSONCORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=settings.cors_methods,
        allow_headers=settings.cors_headers,
        allow_credentials=settings.cors_allow_credentials,
        expose_headers=[REQUEST_ID_HEADER, "Retry-After"],
    )
    app.add_middleware(HeadAsGet)
    install_metrics(app)
    install_offline_docs(app)
