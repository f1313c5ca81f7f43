"""Celery tasks. The consumer queues them by name (task_queue.py); they never import Kafka."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

import structlog
from celery import Task
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from contracts import NewOrderV1
from order_processor.celery_app import app, settings
from order_processor.config import RETRY_BASE_SECONDS, RETRY_CAP_SECONDS
from order_processor.db.session import autocommit_transaction
from order_processor.services import processing
from service_kit.backoff import backoff_delay
from service_kit.logging import bind_correlation_id, clear_correlation_id

log = structlog.get_logger(__name__)

PROCESS_ORDER = "order_processor.process_order"


def _work(seconds: float) -> None:
    """The work itself: a wait of `seconds`. None at all for 0 (a sleep(0) still hands the
    interpreter lock to another thread and waits to get it back)."""
    if seconds > 0:
        time.sleep(seconds)


# The work; a tests' worker replaces it to make every run fail.
work: Callable[[float], None] = _work

# A database that is down (or a dropped connection) is waited out, with back-off, for as long as
# it takes, and does not count as a failed attempt. Any other error is a failed run: recorded on
# the order's claim and retried with back-off up to PROCESSOR_TASK_MAX_ATTEMPTS (processing.py).
TRANSIENT = (OperationalError, InterfaceError, PoolTimeout, OSError, TimeoutError)


@app.task(
    name=PROCESS_ORDER,
    bind=True,
    autoretry_for=TRANSIENT,
    retry_backoff=1,
    retry_backoff_max=30,
    retry_jitter=True,
    max_retries=None,
)
def process_order(
    self: Task[Any, Any],
    order: dict[str, Any],
    event_id: str | None = None,
    correlation_id: str | None = None,
) -> str:
    bind_correlation_id(correlation_id)
    try:
        run = processing.process(
            NewOrderV1.model_validate(order),
            event_id=uuid.UUID(event_id) if event_id else None,
            work_seconds=settings.order_processing_seconds,
            lease_seconds=settings.claim_lease_seconds,
            max_attempts=settings.task_max_attempts,
            retry_delay=partial(backoff_delay, base=RETRY_BASE_SECONDS, cap=RETRY_CAP_SECONDS),
            transaction=autocommit_transaction,
            transient=TRANSIENT,
            sleep=work,
        )
        if run.outcome is processing.Outcome.RETRY:
            # The attempts are counted on the claim: a re-queued task starts Celery's at zero.
            raise self.retry(countdown=run.retry_in, max_retries=None)
        return str(run.outcome.value)
    finally:
        clear_correlation_id()
