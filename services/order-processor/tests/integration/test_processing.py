"""The processing use case on the real database: a second run of the same order changes
nothing, concurrent runs enter the work once, and a crashed run's claim is taken over."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from contracts import NewOrderV1
from order_processor.config import Settings
from order_processor.db.models import OrderRun, ProcessedOrder
from order_processor.db.session import transaction
from order_processor.services.processing import Outcome, Run, process
from stack_control.waiting import eventually
from tests.support import count, new_order_event

CONCURRENT_RUNS = 8


def an_order() -> NewOrderV1:
    return NewOrderV1.model_validate(new_order_event()["data"])


def runner(
    db: Engine, order: NewOrderV1, work: Callable[[float], None], max_attempts: int = 5
) -> Callable[..., Run]:
    """A run of `order`'s task on the real database, its work replaced by `work`."""
    unit_of_work = partial(transaction, sessionmaker(db))

    def run(event_id: uuid.UUID | None = None) -> Run:
        return process(
            order,
            event_id=event_id or uuid.uuid4(),
            work_seconds=2.0,
            lease_seconds=60.0,
            max_attempts=max_attempts,
            retry_delay=lambda attempt: 1.0,
            transaction=unit_of_work,
            sleep=work,
        )

    return run


def test_a_second_run_for_the_same_order_changes_nothing(settings: Settings, db: Engine) -> None:
    order = an_order()
    slept: list[float] = []
    event_id = uuid.uuid4()
    run = runner(db, order, slept.append)

    assert run(event_id).outcome is Outcome.PROCESSED
    assert run(uuid.uuid4()).outcome is Outcome.ALREADY_PROCESSED
    assert slept == [2.0]  # the work itself ran once
    assert count(db, ProcessedOrder) == 1
    with Session(db) as session:
        row = session.scalars(select(ProcessedOrder)).one()
    assert (row.order_id, row.user_id, row.event_id) == (order.order_id, order.user_id, event_id)
    assert row.started_at is not None and row.started_at <= row.processed_at


def test_concurrent_runs_of_one_order_enter_the_work_once(settings: Settings, db: Engine) -> None:
    order = an_order()
    entered: list[int] = []
    start_together = threading.Barrier(CONCURRENT_RUNS)

    def work(_: float) -> None:
        entered.append(threading.get_ident())
        time.sleep(0.5)  # long enough for every other run to reach its check

    run = runner(db, order, work)

    def together(_: int) -> Run:
        start_together.wait(10)
        return run()

    with ThreadPoolExecutor(CONCURRENT_RUNS) as pool:
        results = list(pool.map(together, range(CONCURRENT_RUNS)))

    assert len(entered) == 1
    outcomes = sorted(r.outcome.value for r in results)
    assert outcomes.count(Outcome.PROCESSED.value) == 1
    assert set(outcomes) - {Outcome.PROCESSED.value} <= {
        Outcome.HELD.value,
        Outcome.ALREADY_PROCESSED.value,
    }
    assert count(db, ProcessedOrder) == 1


def test_a_delivery_during_the_work_is_skipped(settings: Settings, db: Engine) -> None:
    order = an_order()
    entered: list[float] = []
    second: list[Run] = []
    run = runner(db, order, entered.append)

    def work_while_a_copy_arrives(seconds: float) -> None:
        entered.append(seconds)
        second.append(run())  # the same order delivered again while this run works

    assert runner(db, order, work_while_a_copy_arrives)().outcome is Outcome.PROCESSED
    assert second == [Run(Outcome.HELD)]
    assert entered == [2.0]


def test_a_crashed_runs_claim_is_taken_over_once_its_lease_expires(
    settings: Settings, db: Engine
) -> None:
    order = an_order()
    unit_of_work = partial(transaction, sessionmaker(db))
    with unit_of_work() as runs:  # a run claimed the order, then its worker died
        assert runs.claim(order.order_id, lease_seconds=1.0, max_attempts=5) == 1
    entered: list[float] = []
    run = runner(db, order, entered.append)

    assert run().outcome is Outcome.HELD
    assert entered == []

    def taken_over() -> Run | None:
        result = run()
        return result if result.outcome is Outcome.PROCESSED else None

    assert eventually(taken_over, 10, "the claim taken over") == Run(Outcome.PROCESSED, attempt=2)
    assert entered == [2.0]


def test_runs_lost_until_the_attempts_are_spent_park_the_order_as_failed(
    settings: Settings, db: Engine
) -> None:
    order = an_order()
    unit_of_work = partial(transaction, sessionmaker(db))
    for attempt in (1, 2, 3):  # each run claimed the order, then its worker died
        with unit_of_work() as runs:
            assert runs.claim(order.order_id, lease_seconds=0.01, max_attempts=3) == attempt
        time.sleep(0.05)
    entered: list[float] = []

    assert runner(db, order, entered.append, max_attempts=3)() == Run(Outcome.FAILED, attempt=3)
    assert entered == []
    with Session(db) as session:
        parked = session.scalars(select(OrderRun)).one()
    assert (parked.state, parked.attempts) == ("failed", 3)
    assert parked.last_error is not None and "no outcome" in parked.last_error
