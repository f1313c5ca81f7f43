"""The intake use case on the real database: the inbox row lives only if the task was queued."""

from __future__ import annotations

from functools import partial

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from contracts import NewOrderEvent, parse_new_order
from order_processor.config import Settings
from order_processor.db.models import ProcessedEvent
from order_processor.db.session import transaction
from order_processor.services.intake import Outcome, accept
from tests.support import count, new_order_event


def test_an_event_is_recorded_once_and_queued_once(settings: Settings, db: Engine) -> None:
    event = parse_new_order(new_order_event())
    queued: list[NewOrderEvent] = []
    unit_of_work = partial(transaction, sessionmaker(db))
    take = partial(accept, transaction=unit_of_work, enqueue=queued.append)

    assert take(event) is Outcome.ACCEPTED
    assert take(event) is Outcome.DUPLICATE
    assert queued == [event]
    assert count(db, ProcessedEvent) == 1
    with Session(db) as session:  # what reconciliation needs to queue it again
        payload = session.scalars(select(ProcessedEvent.payload)).one()
    assert payload is not None and parse_new_order(payload) == event


def test_a_refused_task_leaves_no_inbox_row(settings: Settings, db: Engine) -> None:
    event = parse_new_order(new_order_event())

    def broker_down(_: NewOrderEvent) -> None:
        raise ConnectionError("broker unreachable")

    with pytest.raises(ConnectionError):
        accept(event, transaction=partial(transaction, sessionmaker(db)), enqueue=broker_down)
    assert count(db, ProcessedEvent) == 0
