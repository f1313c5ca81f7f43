"""The order processing use case: do the work once per order, whatever the retries."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import structlog
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from contracts import NewOrderV1
from order_processor.db.models import ProcessedOrder

log = structlog.get_logger(__name__)


def process_order(
    session: Session,
    order: NewOrderV1,
    event_id: uuid.UUID | None,
    work_seconds: float,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Process `order`; returns False when it had been processed already (nothing changes)."""
    already = session.scalar(
        select(ProcessedOrder.order_id).where(ProcessedOrder.order_id == order.order_id)
    )
    if already is not None:
        log.info("order.already_processed", order_id=str(order.order_id))
        return False
    sleep(work_seconds)
    inserted = session.execute(
        insert(ProcessedOrder)
        .values(order_id=order.order_id, user_id=order.user_id, event_id=event_id)
        .on_conflict_do_nothing(index_elements=[ProcessedOrder.order_id])
        .returning(ProcessedOrder.order_id)
    ).scalar_one_or_none()
    session.commit()
    if inserted is None:
        log.info("order.already_processed", order_id=str(order.order_id))
        return False
    log.info("order processed", order_id=str(order.order_id), user_id=order.user_id)
    return True
