"""The processing use case on the real database: a second run of the same order changes nothing."""

from __future__ import annotations

import uuid

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from contracts import NewOrderV1
from order_processor.config import Settings
from order_processor.db.models import ProcessedOrder
from order_processor.services.processing import process_order

from .conftest import count, new_order_event


def test_a_second_run_for_the_same_order_changes_nothing(settings: Settings, db: Engine) -> None:
    order = NewOrderV1.model_validate(new_order_event()["data"])
    slept: list[float] = []
    event_id = uuid.uuid4()
    sessions = sessionmaker(db)
    assert process_order(sessions, order, event_id, 2.0, sleep=slept.append) is True
    assert process_order(sessions, order, uuid.uuid4(), 2.0, sleep=slept.append) is False
    assert slept == [2.0]  # the work itself ran once
    assert count(db, ProcessedOrder) == 1
    with Session(db) as session:
        row = session.scalars(select(ProcessedOrder)).one()
    assert (row.order_id, row.user_id, row.event_id) == (order.order_id, order.user_id, event_id)
    assert row.started_at is not None and row.started_at <= row.processed_at
