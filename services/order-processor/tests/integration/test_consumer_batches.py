"""The consumer's batches on real Kafka, PostgreSQL and Redis: the consumer runs in this process
(its intake and queue the production ones, its Kafka consumer the production configuration) so
that a failure can be put in the middle of a batch."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial

import pytest
import structlog
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from contracts import NewOrderEvent
from order_processor.celery_app import app as celery_app
from order_processor.config import Settings
from order_processor.consumer import OrderConsumer, Stop, dlq_producer, kafka_consumer
from order_processor.db.models import ProcessedEvent, ProcessedOrder
from order_processor.db.session import transaction
from order_processor.services import intake
from order_processor.task_queue import TaskQueue
from stack_control.waiting import eventually
from tests.support import count, new_order_event, produce, queued, read_all

EnqueueAll = Callable[[Sequence[NewOrderEvent]], None]


@pytest.fixture(autouse=True)
def uncached_loggers() -> Iterator[None]:
    """The consumer's module logger, used here in process, is not cached with the logging set up
    by other tests: later tests capture its lines."""
    cached = structlog.get_config()["cache_logger_on_first_use"]
    structlog.configure(cache_logger_on_first_use=False)
    yield
    structlog.configure(cache_logger_on_first_use=cached)


class Seen:
    """What the consumer did, as its collaborators saw it (its log lines are not captured here:
    the structlog configuration of other tests may have cached its logger)."""

    def __init__(self) -> None:
        self.outcomes: list[intake.Outcome] = []
        self.back_offs: list[float] = []
        self.handled: Callable[[], int] = lambda: 0

    def queued(self) -> int:
        return self.outcomes.count(intake.Outcome.ACCEPTED)

    def skipped(self) -> int:
        return self.outcomes.count(intake.Outcome.DUPLICATE)


@contextmanager
def consuming(settings: Settings, db: Engine, enqueue: EnqueueAll | None = None) -> Iterator[Seen]:
    """The consumer in a thread, with the stack's broker (or `enqueue` in front of it)."""
    seen = Seen()
    take_in = partial(
        intake.accept_all,
        transaction=partial(transaction, sessionmaker(db)),
        enqueue=enqueue or TaskQueue(celery_app, settings.task_queue).enqueue_all,
    )

    def accept(events: Sequence[NewOrderEvent]) -> list[intake.Outcome]:
        outcomes = take_in(events)
        seen.outcomes += outcomes
        return outcomes

    kafka = kafka_consumer(settings)
    consumer = OrderConsumer(
        settings, kafka, dlq_producer(settings), accept, sleep=seen.back_offs.append
    )
    seen.handled = lambda: consumer.handled
    stop = Stop()
    thread = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.requested = True
        thread.join(30)
        kafka.close()


def test_duplicates_within_and_across_batches_are_queued_once(
    settings: Settings, db: Engine
) -> None:
    first, second = json.dumps(new_order_event()).encode(), json.dumps(new_order_event()).encode()
    produce(settings, first, first, second, key=b"dup")  # one batch: a copy inside it

    with consuming(settings, db) as seen:
        eventually(lambda: seen.handled() >= 3, 45, "the first batch handled")
        produce(settings, second, first, key=b"dup")  # a later batch: copies of both
        eventually(lambda: seen.handled() >= 5, 45, "the second batch handled")

    assert (seen.queued(), seen.skipped()) == (2, 3)
    assert count(db, ProcessedEvent) == 2
    assert queued(settings) == 2


def test_an_invalid_message_in_the_middle_of_a_batch_goes_to_the_dlq_alone(
    settings: Settings, db: Engine
) -> None:
    before, after = new_order_event(), new_order_event()
    produce(
        settings, json.dumps(before).encode(), b"{not json", json.dumps(after).encode(), key=b"k"
    )

    with consuming(settings, db) as seen:
        eventually(lambda: seen.handled() >= 3, 45, "the batch handled")

    assert seen.queued() == 2
    assert seen.back_offs == []
    [dead] = read_all(settings, settings.dlq_topic, expected=1)
    assert dead.value() == b"{not json"
    assert count(db, ProcessedEvent) == 2
    assert queued(settings) == 2


def test_a_failure_mid_batch_retries_the_whole_batch_and_nothing_is_applied_twice(
    settings: Settings, db: Engine, start
) -> None:
    events = [new_order_event() for _ in range(5)]
    produce(settings, *(json.dumps(e).encode() for e in events), key=b"k")
    queue = TaskQueue(celery_app, settings.task_queue)
    calls: list[int] = []

    def broker_lost_mid_batch(batch: Sequence[NewOrderEvent]) -> None:
        """The first time, part of the batch reaches the broker, then the broker is lost."""
        calls.append(len(batch))
        if len(calls) == 1:
            queue.enqueue_all(batch[:2])
            raise ConnectionError("broker lost mid-batch")
        queue.enqueue_all(batch)

    with consuming(settings, db, broker_lost_mid_batch) as seen:
        eventually(lambda: seen.handled() >= 5, 45, "the batch handled on its retry")

    assert len(seen.back_offs) == 1
    assert seen.queued() == 5  # nothing was committed: the retry took in all five again
    assert calls == [5, 5]  # one batch, tried twice
    assert count(db, ProcessedEvent) == 5
    assert queued(settings) == 7  # two tasks queued twice: the claim keeps their work single

    worker = start("worker", settings, ORDER_PROCESSING_SECONDS="0")
    eventually(lambda: queued(settings) == 0 and count(db, ProcessedOrder) == 5, 45, "processed")
    eventually(
        lambda: sum(e["event"] == "order.already_processed" for e in worker.events()) == 2,
        15,
        "the copies skipped",
    )
    worker.stop()
    assert [e["event"] for e in worker.events()].count("order processed") == 5
