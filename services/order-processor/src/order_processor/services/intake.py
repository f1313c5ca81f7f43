"""The intake use case: a new order event is recorded in the inbox and its task queued, once.

Both happen in one transaction, committed only after the broker took the task. A failure
before the commit leaves no inbox row, so the redelivered event is queued again; a crash
between queueing and committing does the same, and the task's claim on its order keeps the work
single. The inbox row keeps the event itself: if the task is lost after the commit (its queue
flushed, a worker crash), reconciliation queues it again from there.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol

from contracts import NewOrderEvent


class Inbox(Protocol):
    def record_event(
        self, event_id: uuid.UUID, order_id: uuid.UUID, payload: dict[str, Any]
    ) -> bool: ...


# Opens one unit of work on the inbox (db.session.transaction in production).
Transaction = Callable[[], AbstractContextManager[Inbox]]
# Queues the event's task (task_queue.TaskQueue.enqueue in production); raises when it could not.
Enqueue = Callable[[NewOrderEvent], None]


class Outcome(enum.Enum):
    ACCEPTED = "accepted"  # recorded and its task queued
    DUPLICATE = "duplicate"  # in the inbox already: nothing queued


def accept(event: NewOrderEvent, *, transaction: Transaction, enqueue: Enqueue) -> Outcome:
    """Take `event` in; an exception means nothing was committed and it must be tried again."""
    with transaction() as inbox:
        payload = event.model_dump(mode="json")
        if not inbox.record_event(event.event_id, event.data.order_id, payload):
            return Outcome.DUPLICATE
        enqueue(event)
    return Outcome.ACCEPTED
