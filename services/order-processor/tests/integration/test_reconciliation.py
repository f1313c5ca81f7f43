"""Reconciliation on the real database and the stack's Redis: which inbox entries are stale,
and one pass healing a task that was never queued and a queue that was lost."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from redis import Redis
from sqlalchemy import Engine, text
from sqlalchemy.orm import sessionmaker
from structlog.testing import capture_logs

from contracts import NewOrderEvent, parse_new_order
from order_processor.celery_app import app as celery_app
from order_processor.config import Settings
from order_processor.db.models import ProcessedOrder
from order_processor.db.repository import RECONCILE_LOCK
from order_processor.db.session import transaction
from order_processor.services.intake import accept
from order_processor.services.reconciliation import reconcile
from order_processor.task_queue import TaskQueue
from stack_control.waiting import eventually
from tests.support import count, new_order_event, queued


def take_in(db: Engine, enqueue: Callable[[NewOrderEvent], None]) -> NewOrderEvent:
    event = parse_new_order(new_order_event())
    accept(event, transaction=partial(transaction, sessionmaker(db)), enqueue=enqueue)
    return event


def age(db: Engine, event: NewOrderEvent, received: float, requeued: float | None = None) -> None:
    """Move the entry's times `received` (and `requeued`) seconds into the past."""
    with db.begin() as conn:
        conn.execute(
            text(
                "UPDATE processed_events SET received_at = now() - make_interval(secs => :r),"
                " requeued_at = now() - make_interval(secs => :q) WHERE event_id = :id"
            ),
            {"r": received, "q": requeued, "id": event.event_id},
        )


def run_state(db: Engine, event: NewOrderEvent, state: str, lease: float) -> None:
    """Give the event's order a claim in `state`, its lease ending `lease` seconds from now."""
    with db.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO order_runs (order_id, state, attempts, failures, lease_until)"
                " VALUES (:id, :state, 1, 0, now() + make_interval(secs => :lease))"
            ),
            {"id": event.data.order_id, "state": state, "lease": lease},
        )


def one_pass(db: Engine, settings: Settings) -> int | None:
    return reconcile(
        transaction=partial(transaction, sessionmaker(db)),
        enqueue=TaskQueue(celery_app, settings.task_queue).enqueue,
        older_than_seconds=settings.reconcile_after_seconds,
        limit=settings.reconcile_batch_size,
    )


def nothing(_: NewOrderEvent) -> None:
    """A queue that took nothing: the task was lost before it was ever queued."""


def test_stale_entries_are_old_unfinished_and_not_under_a_live_run(
    settings: Settings, db: Engine
) -> None:
    def entry(received: float = 120, requeued: float | None = None) -> NewOrderEvent:
        event = take_in(db, nothing)
        age(db, event, received, requeued)
        return event

    lost = entry()
    crashed_run = entry()
    run_state(db, crashed_run, "running", lease=-5)
    retry_lost = entry()  # its retry was due, and never came
    run_state(db, retry_lost, "retrying", lease=-5)
    requeued_long_ago = entry(requeued=120)
    without_payload = entry()
    with db.begin() as conn:  # taken in before the inbox kept payloads
        conn.execute(
            text("UPDATE processed_events SET payload = NULL WHERE event_id = :id"),
            {"id": without_payload.event_id},
        )
    # not stale:
    processed = entry()
    with db.begin() as conn:
        conn.execute(
            text("INSERT INTO processed_orders (order_id, user_id) VALUES (:id, 5)"),
            {"id": processed.data.order_id},
        )
    run_state(db, entry(), "failed", lease=-5)
    run_state(db, entry(), "running", lease=30)
    run_state(db, entry(), "retrying", lease=20)  # its retry is not due yet
    entry(received=10)
    entry(requeued=10)

    with transaction(sessionmaker(db)) as inbox:
        stale = inbox.stale_events(older_than_seconds=60, limit=500)

    assert {e.event_id for e in stale} == {
        e.event_id for e in (lost, crashed_run, retry_lost, requeued_long_ago, without_payload)
    }
    assert {e.event_id: e.payload is None for e in stale}[without_payload.event_id]
    with transaction(sessionmaker(db)) as inbox:
        assert len(inbox.stale_events(older_than_seconds=60, limit=2)) == 2


def test_a_task_never_queued_and_a_lost_queue_are_healed_by_one_pass(
    settings: Settings, db: Engine, start
) -> None:
    never_queued = take_in(db, nothing)
    lost_with_its_queue = take_in(db, TaskQueue(celery_app, settings.task_queue).enqueue)
    Redis.from_url(settings.celery_broker_url).delete(settings.task_queue)  # FLUSHALL, eviction…
    for event in (never_queued, lost_with_its_queue):
        age(db, event, received=settings.reconcile_after_seconds + 5)

    with capture_logs() as logs:
        assert one_pass(db, settings) == 2
    [requeued] = [e for e in logs if e["event"] == "reconcile.requeued"]
    assert requeued["count"] == 2
    assert queued(settings) == 2
    assert one_pass(db, settings) == 0  # queued again lately: not once more

    worker = start("worker", settings, ORDER_PROCESSING_SECONDS="0")
    eventually(lambda: count(db, ProcessedOrder) == 2, 45, "both orders processed")
    eventually(lambda: queued(settings) == 0, 10, "the queue drained")
    worker.stop()
    done = [e["order_id"] for e in worker.events() if e["event"] == "order processed"]
    assert sorted(done) == sorted(str(e.data.order_id) for e in (never_queued, lost_with_its_queue))
    assert one_pass(db, settings) == 0


def test_a_pass_does_nothing_while_another_replica_holds_the_lock(
    settings: Settings, db: Engine
) -> None:
    event = take_in(db, nothing)
    age(db, event, received=settings.reconcile_after_seconds + 5)
    with db.begin() as other_replica:
        other_replica.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": RECONCILE_LOCK})
        assert one_pass(db, settings) is None
    assert queued(settings) == 0
    assert one_pass(db, settings) == 1
