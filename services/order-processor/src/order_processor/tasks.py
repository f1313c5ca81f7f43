"""Celery tasks. The consumer queues them by name; they never import Kafka."""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from contracts import NewOrderV1
from order_processor.celery_app import app, settings
from order_processor.db.session import sync_sessionmaker
from order_processor.services.processing import process_order as process
from service_kit.logging import bind_correlation_id, clear_correlation_id

log = structlog.get_logger(__name__)

PROCESS_ORDER = "order_processor.process_order"

# A database that is down (or a dropped connection) is waited out, with back-off, for as long as
# it takes: a failed task would be acknowledged and its order never processed. Bad data is not
# retried.
TRANSIENT = (OperationalError, InterfaceError, PoolTimeout, OSError, TimeoutError)


@app.task(
    name=PROCESS_ORDER,
    autoretry_for=TRANSIENT,
    retry_backoff=1,
    retry_backoff_max=30,
    retry_jitter=True,
    max_retries=None,
)
def process_order(
    order: dict[str, Any], event_id: str | None = None, correlation_id: str | None = None
) -> bool:
    bind_correlation_id(correlation_id)
    try:
        data = NewOrderV1.model_validate(order)
        return process(
            sync_sessionmaker(),
            data,
            uuid.UUID(event_id) if event_id else None,
            settings.order_processing_seconds,
        )
    finally:
        clear_correlation_id()
