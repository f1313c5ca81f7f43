"""The consumer and the worker as real processes on real Kafka, PostgreSQL and Redis."""

from __future__ import annotations

import json
import signal
import uuid

from sqlalchemy import Engine

from contracts import parse_new_order
from order_processor.celery_app import app as celery_app
from order_processor.config import Settings
from order_processor.db.models import ProcessedEvent, ProcessedOrder
from order_processor.task_queue import TaskQueue
from stack_control.waiting import eventually
from tests.support import count, new_order_event, produce, queued, read_all

HANDLED = {"consumer.task_queued", "consumer.duplicate_skipped", "consumer.dead_lettered"}


def _handled(process) -> int:
    return sum(1 for e in process.events() if e["event"] in HANDLED)


def test_an_invalid_message_goes_to_the_dlq_and_the_next_good_one_is_processed(
    settings: Settings, db: Engine, start
) -> None:
    missing_order_id = new_order_event()
    del missing_order_id["data"]["order_id"]
    untyped = new_order_event()  # neither event_type nor event_version: not a v1 new_order
    del untyped["event_type"], untyped["event_version"]
    version_2 = {**new_order_event(), "event_version": 2}
    good = new_order_event()
    key = b"same-partition"
    bad = [json.dumps(m).encode() for m in (missing_order_id, untyped, version_2)]
    produce(settings, b"{not json", *bad, key=key)
    produce(settings, json.dumps(good).encode(), key=key)

    consumer = start("consumer", settings)
    eventually(lambda: _handled(consumer) >= 5, 45, "five messages handled")
    assert consumer.stop() == 0

    dead = read_all(settings, settings.dlq_topic, expected=4)
    assert len(dead) == 4
    reasons = [dict(m.headers())["dlq_reason"].decode() for m in dead]
    assert all(r.startswith("invalid new_order") for r in reasons)
    assert "order_id" in reasons[1]
    assert "event_type" in reasons[2]
    assert "event_version" in reasons[3]
    assert dead[0].value() == b"{not json"
    assert count(db, ProcessedEvent) == 1
    assert queued(settings) == 1


def test_the_same_event_twice_gives_one_task_and_one_processed_order(
    settings: Settings, db: Engine, start
) -> None:
    event = json.dumps(new_order_event()).encode()
    produce(settings, event, event, key=b"dup")

    consumer = start("consumer", settings)
    eventually(lambda: _handled(consumer) >= 2, 45, "both copies handled")
    consumer.stop()
    events = [e["event"] for e in consumer.events()]
    assert events.count("consumer.task_queued") == 1
    assert events.count("consumer.duplicate_skipped") == 1
    assert count(db, ProcessedEvent) == 1
    assert queued(settings) == 1

    worker = start("worker", settings, ORDER_PROCESSING_SECONDS="0")
    eventually(lambda: count(db, ProcessedOrder) == 1, 45, "the order processed")
    eventually(lambda: queued(settings) == 0, 10, "the queue drained")
    worker.stop()
    assert [e["event"] for e in worker.events()].count("order processed") == 1


def test_consumer_killed_after_queueing_before_committing_gives_no_double_effect(
    settings: Settings, db: Engine, start
) -> None:
    order_id = uuid.uuid4()
    produce(settings, json.dumps(new_order_event(order_id)).encode(), key=b"k")
    # Offsets are committed once a minute here, so the kill lands before any commit.
    consumer = start("consumer", settings, PROCESSOR_COMMIT_INTERVAL_MS="60000")
    eventually(lambda: queued(settings) == 1, 45, "the task queued")
    consumer.stop(signal.SIGKILL)

    again = start("consumer", settings)
    eventually(lambda: _handled(again) >= 1, 45, "the message delivered again")
    again.stop()
    assert [e["event"] for e in again.events()].count("consumer.duplicate_skipped") == 1

    # Even a second copy of the task in the queue would change nothing: one row, one log line.
    worker = start("worker", settings, ORDER_PROCESSING_SECONDS="0")
    eventually(lambda: queued(settings) == 0 and count(db, ProcessedOrder) == 1, 45, "processed")
    worker.stop()
    assert count(db, ProcessedOrder) == 1
    assert [e["event"] for e in worker.events()].count("order processed") == 1


def test_two_copies_of_one_task_run_side_by_side_enter_the_work_once(
    settings: Settings, db: Engine, start
) -> None:
    # a publish retried after a lost reply, a redelivery, a re-queue: the same task twice
    event = parse_new_order(new_order_event())
    queue = TaskQueue(celery_app, settings.task_queue)
    queue.enqueue(event)
    queue.enqueue(event)

    worker = start("threaded-worker", settings, ORDER_PROCESSING_SECONDS="2")
    eventually(lambda: count(db, ProcessedOrder) == 1, 45, "the order processed")
    eventually(lambda: queued(settings) == 0, 10, "both copies taken")
    ends = {"order processed", "order.claim_held", "order.already_processed"}
    eventually(
        lambda: sum(e["event"] in ends for e in worker.events()) >= 2, 15, "both copies ended"
    )
    worker.stop()
    events = [e["event"] for e in worker.events()]
    assert events.count("order.processing") == 1  # entries into the work
    assert events.count("order processed") == 1


def test_sigterm_commits_and_leaves_the_group(settings: Settings, start) -> None:
    produce(settings, json.dumps(new_order_event()).encode())
    consumer = start("consumer", settings, PROCESSOR_COMMIT_INTERVAL_MS="60000")
    eventually(lambda: _handled(consumer) >= 1, 45, "handled")
    assert consumer.stop(signal.SIGTERM) == 0
    assert [e["event"] for e in consumer.events()][-1] == "consumer.closed"

    # The offset was committed on close: a new consumer in the group gets nothing again.
    again = start("consumer", settings)
    eventually(
        lambda: any(e["event"] == "consumer.started" for e in again.events()), 30, "restarted"
    )
    produce(settings, json.dumps(new_order_event()).encode())
    eventually(lambda: _handled(again) >= 1, 45, "the next message handled")
    again.stop()
    assert [e["event"] for e in again.events()].count("consumer.task_queued") == 1
