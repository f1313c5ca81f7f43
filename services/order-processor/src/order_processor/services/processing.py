"""The order processing use case: do the work once per order, whatever the retries."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, sessionmaker

from contracts import NewOrderV1
from order_processor.db.models import ProcessedOrder

log = structlog.get_logger(__name__)


def process_order(
    sessions: sessionmaker[Session],
    order: NewOrderV1,
    event_id: uuid.UUID | None,
    work_seconds: float,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Process `order`; returns False when it had been processed already (nothing changes).

    No database connection is held during the work itself, so many tasks can run at once.
    """
    order_id = str(order.order_id)
    with sessions() as session:
        done = session.scalar(
            select(ProcessedOrder.order_id).where(ProcessedOrder.order_id == order.order_id)
        )
    if done is not None:
        log.info("order.already_processed", order_id=order_id)
        return False
    started_at = datetime.now(UTC)
    log.info("order.processing", order_id=order_id)
    sleep(work_seconds)
    with sessions() as session, session.begin():
        inserted = session.execute(
            insert(ProcessedOrder)
            .values(
                order_id=order.order_id,
                user_id=order.user_id,
                event_id=event_id,
                started_at=started_at,
            )
            .on_conflict_do_nothing(index_elements=[ProcessedOrder.order_id])
            .returning(ProcessedOrder.order_id)
        ).scalar_one_or_none()
    if inserted is None:  # a concurrent run of the same order finished first
        log.info("order.already_processed", order_id=order_id)
        return False
    log.info("order processed", order_id=order_id, user_id=order.user_id)
    return True
