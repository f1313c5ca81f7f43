"""One reconciliation pass with a fake inbox and a fake queue: what it re-queues, marks and
skips. Which inbox rows are stale is SQL, checked on the real database
(tests/integration/test_reconciliation.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from structlog.testing import capture_logs

from contracts import NewOrderEvent, parse_new_order
from order_processor.db.repository import StaleEvent
from order_processor.services.reconciliation import reconcile
from tests.support import new_order_event


class FakeInbox:
    def __init__(self, entries: list[StaleEvent], locked_elsewhere: bool = False) -> None:
        self.entries = entries
        self.locked_elsewhere = locked_elsewhere
        self.asked: list[tuple[float, int]] = []
        self.marked: list[uuid.UUID] = []
        self.committed = False

    def lock_reconciliation(self) -> bool:
        return not self.locked_elsewhere

    def stale_events(self, *, older_than_seconds: float, limit: int) -> Sequence[StaleEvent]:
        self.asked.append((older_than_seconds, limit))
        return self.entries[:limit]

    def mark_requeued(self, event_id: uuid.UUID) -> None:
        self.marked.append(event_id)

    @contextmanager
    def transaction(self) -> Iterator[FakeInbox]:
        yield self
        self.committed = True


class FakeQueue:
    def __init__(self, refuse_after: int | None = None) -> None:
        self.refuse_after = refuse_after
        self.tasks: list[NewOrderEvent] = []

    def enqueue(self, event: NewOrderEvent) -> None:
        if self.refuse_after is not None and len(self.tasks) >= self.refuse_after:
            raise ConnectionError("broker unreachable")
        self.tasks.append(event)


def stale(payload: dict[str, Any] | None = None) -> StaleEvent:
    event = payload or new_order_event()
    return StaleEvent(uuid.UUID(event["event_id"]), uuid.UUID(event["data"]["order_id"]), event)


def one_pass(inbox: FakeInbox, queue: FakeQueue, limit: int = 500) -> int | None:
    return reconcile(
        transaction=inbox.transaction,
        enqueue=queue.enqueue,
        older_than_seconds=60.0,
        limit=limit,
    )


def test_each_stale_entry_is_queued_again_from_its_payload_and_marked() -> None:
    entries = [stale(), stale()]
    inbox, queue = FakeInbox(entries), FakeQueue()

    with capture_logs() as logs:
        assert one_pass(inbox, queue) == 2

    assert queue.tasks == [parse_new_order(e.payload) for e in entries if e.payload]
    assert inbox.marked == [e.event_id for e in entries]
    assert inbox.asked == [(60.0, 500)]
    assert inbox.committed
    [done] = [e for e in logs if e["event"] == "reconcile.requeued"]
    assert done["count"] == 2


def test_a_pass_takes_at_most_its_batch() -> None:
    inbox, queue = FakeInbox([stale() for _ in range(5)]), FakeQueue()

    assert one_pass(inbox, queue, limit=2) == 2
    assert len(queue.tasks) == 2


def test_nothing_stale_queues_nothing_and_logs_nothing() -> None:
    inbox, queue = FakeInbox([]), FakeQueue()

    with capture_logs() as logs:
        assert one_pass(inbox, queue) == 0

    assert queue.tasks == []
    assert "reconcile.requeued" not in [e["event"] for e in logs]


def test_another_replica_holding_the_lock_means_this_pass_does_nothing() -> None:
    inbox, queue = FakeInbox([stale()], locked_elsewhere=True), FakeQueue()

    assert one_pass(inbox, queue) is None
    assert inbox.asked == []
    assert queue.tasks == []


def test_an_entry_without_a_payload_is_logged_and_skipped() -> None:
    old = StaleEvent(uuid.uuid4(), uuid.uuid4(), None)  # taken in before payloads were kept
    inbox, queue = FakeInbox([old, stale()]), FakeQueue()

    with capture_logs() as logs:
        assert one_pass(inbox, queue) == 1

    assert len(queue.tasks) == 1
    assert inbox.marked[0] == old.event_id  # marked, so that it is logged once, not every pass
    [skipped] = [e for e in logs if e["event"] == "reconcile.payload_missing"]
    assert skipped["order_id"] == str(old.order_id)


def test_a_broker_failure_ends_the_pass_and_keeps_what_was_queued() -> None:
    entries = [stale(), stale(), stale()]
    inbox, queue = FakeInbox(entries), FakeQueue(refuse_after=1)

    with capture_logs() as logs:
        assert one_pass(inbox, queue) == 1

    assert inbox.marked == [entries[0].event_id]  # the others stay stale for the next pass
    assert inbox.committed
    assert "reconcile.enqueue_failed" in [e["event"] for e in logs]
