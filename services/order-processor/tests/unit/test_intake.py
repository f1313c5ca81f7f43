"""The intake use case with a fake inbox and a fake queue: record, enqueue, then commit."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest

from contracts import NewOrderEvent, parse_new_order
from order_processor.db.repository import InboxEntry
from order_processor.services.intake import Outcome, accept
from tests.support import new_order_event


class FakeInbox:
    """The inbox table in memory; what a transaction records is kept only if it commits."""

    def __init__(self, journal: list[str]) -> None:
        self.journal = journal
        self.committed: set[uuid.UUID] = set()
        self.payloads: dict[uuid.UUID, dict[str, Any]] = {}
        self._pending: set[uuid.UUID] = set()

    def record_events(self, entries: Sequence[InboxEntry]) -> set[uuid.UUID]:
        new = {e.event_id for e in entries} - self.committed - self._pending
        self._pending |= new
        self.payloads.update({e.event_id: e.payload for e in entries if e.event_id in new})
        self.journal.append("record")
        return new

    @contextmanager
    def transaction(self) -> Iterator[FakeInbox]:
        try:
            yield self
        except BaseException:
            self._pending.clear()
            self.journal.append("rollback")
            raise
        self.committed |= self._pending
        self._pending.clear()
        self.journal.append("commit")


class FakeQueue:
    def __init__(self, journal: list[str], refuse: bool = False) -> None:
        self.journal = journal
        self.refuse = refuse
        self.tasks: list[NewOrderEvent] = []

    def enqueue(self, event: NewOrderEvent) -> None:
        if self.refuse:
            raise ConnectionError("broker unreachable")
        self.tasks.append(event)
        self.journal.append("enqueue")


@pytest.fixture
def journal() -> list[str]:
    return []


@pytest.fixture
def inbox(journal: list[str]) -> FakeInbox:
    return FakeInbox(journal)


def test_a_new_event_is_recorded_queued_and_committed_after_queueing(
    inbox: FakeInbox, journal: list[str]
) -> None:
    event = parse_new_order(new_order_event())
    queue = FakeQueue(journal)

    assert accept(event, transaction=inbox.transaction, enqueue=queue.enqueue) is Outcome.ACCEPTED

    assert journal == ["record", "enqueue", "commit"]
    assert queue.tasks == [event]
    assert inbox.committed == {event.event_id}
    # the inbox keeps what a re-queue needs: the event itself
    assert parse_new_order(inbox.payloads[event.event_id]) == event


def test_a_duplicate_is_skipped_and_nothing_is_queued(inbox: FakeInbox, journal: list[str]) -> None:
    event = parse_new_order(new_order_event())
    inbox.committed.add(event.event_id)
    queue = FakeQueue(journal)

    assert accept(event, transaction=inbox.transaction, enqueue=queue.enqueue) is Outcome.DUPLICATE

    assert queue.tasks == []
    assert "enqueue" not in journal


def test_a_refused_task_commits_nothing_and_the_error_reaches_the_consumer(
    inbox: FakeInbox, journal: list[str]
) -> None:
    event = parse_new_order(new_order_event())
    queue = FakeQueue(journal, refuse=True)

    with pytest.raises(ConnectionError):
        accept(event, transaction=inbox.transaction, enqueue=queue.enqueue)

    assert journal == ["record", "rollback"]
    assert inbox.committed == set()
    # the redelivered event is taken in as new
    queue.refuse = False
    assert accept(event, transaction=inbox.transaction, enqueue=queue.enqueue) is Outcome.ACCEPTED
