"""The intake use case: new order events are recorded in the inbox and their tasks queued, once.

A batch of events is taken in by one transaction: the new ones recorded in one statement, their
tasks queued, and the commit only after the broker took the last of them. A failure before the
commit leaves no inbox row, so the redelivered events are queued again; a crash between queueing
and committing does the same, and the task's claim on its order keeps the work single. The inbox
row keeps the event itself: if the task is lost after the commit (its queue flushed, a worker
crash), reconciliation queues it again from there.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from contracts import NewOrderEvent
from order_processor.db.repository import InboxEntry


class Inbox(Protocol):
    def record_events(self, entries: Sequence[InboxEntry]) -> set[uuid.UUID]: ...


# Opens one unit of work on the inbox (db.session.transaction in production).
Transaction = Callable[[], AbstractContextManager[Inbox]]
# Queues one event's task (task_queue.TaskQueue.enqueue); raises when it could not.
Enqueue = Callable[[NewOrderEvent], None]
# Queues the tasks of several events, in order (task_queue.TaskQueue.enqueue_all); raises when
# any of them could not be.
EnqueueAll = Callable[[Sequence[NewOrderEvent]], None]


class Outcome(enum.Enum):
    ACCEPTED = "accepted"  # recorded and its task queued
    DUPLICATE = "duplicate"  # in the inbox already, or earlier in the batch: nothing queued


def accept_all(
    events: Sequence[NewOrderEvent], *, transaction: Transaction, enqueue: EnqueueAll
) -> list[Outcome]:
    """Take `events` in; one outcome per event, in order. An event id seen earlier in the batch
    counts as a duplicate. An exception means nothing was committed and all must be tried again."""
    entries: dict[uuid.UUID, InboxEntry] = {}
    for event in events:
        if event.event_id not in entries:
            payload = event.model_dump(mode="json")
            entries[event.event_id] = InboxEntry(event.event_id, event.data.order_id, payload)
    with transaction() as inbox:
        new = inbox.record_events(list(entries.values())) if entries else set()
        accepted: list[bool] = []
        for event in events:
            accepted.append(event.event_id in new)
            new.discard(event.event_id)
        if any(accepted):
            enqueue([event for event, taken in zip(events, accepted, strict=True) if taken])
    return [Outcome.ACCEPTED if taken else Outcome.DUPLICATE for taken in accepted]


def accept(event: NewOrderEvent, *, transaction: Transaction, enqueue: Enqueue) -> Outcome:
    """Take one event in; an exception means nothing was committed and it must be tried again."""
    [outcome] = accept_all([event], transaction=transaction, enqueue=lambda new: enqueue(new[0]))
    return outcome
