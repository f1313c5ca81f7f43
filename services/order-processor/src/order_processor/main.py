"""order-processor's HTTP face: health and metrics (the work runs in the consumer and worker);
its lifespan also runs reconciliation (reconciler.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from confluent_kafka.admin import AdminClient
from fastapi import FastAPI

from order_processor.config import Settings, get_settings
from order_processor.metrics import refresh_forever
from order_processor.reconciler import reconcile_forever
from service_kit.app import add_routes, create_service_app
from service_kit.db import make_engine, ping
from service_kit.health import health_router, redis_check
from service_kit.logging import configure_logging
from service_kit.redis import make_redis

log = structlog.get_logger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging("order-processor", settings.log_level, settings.log_json)
    engine = make_engine(settings.database_url, settings.db_connect_timeout_seconds, pool_size=4)
    broker = make_redis(settings.celery_broker_url, timeout_seconds=0.5)
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        log.info("processor.started")
        gauges = asyncio.create_task(refresh_forever(settings, engine, broker))
        reconciler = asyncio.create_task(reconcile_forever(settings))
        yield
        reconciler.cancel()
        gauges.cancel()
        await broker.aclose()
        await engine.dispose()

    app = create_service_app("order-processor", settings, lifespan)

    async def kafka_ping() -> None:
        await asyncio.to_thread(admin.list_topics, timeout=1.5)

    add_routes(
        app,
        health_router(
            {
                "postgres": lambda: ping(engine),
                "celery_broker": redis_check(broker),
                "kafka": kafka_ping,
            }
        ),
    )
    return app


app = create_app()
