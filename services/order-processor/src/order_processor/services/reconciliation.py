"""The reconciliation use case: an inbox entry that should have been processed by now is
queued again.

The only copy of a queued task is in the broker: a flushed or lost queue, a task dropped by a
failed retry publish, a worker crash past the visibility timeout would each forget an order
whose event the inbox has accepted (and whose Kafka offset is committed). A pass compares the
inbox with the outcomes: an entry older than the threshold whose order has no processed row,
is not failed, has no live run and was not queued again within the threshold gets its task
again. A task queued twice is harmless: the claim lets one run work.

One pass runs in one transaction under an advisory lock, so replicas never pass together.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

import structlog
from pydantic import ValidationError

from contracts import NewOrderEvent, parse_new_order
from order_processor.db.repository import StaleEvent

log = structlog.get_logger(__name__)


class Inbox(Protocol):
    def lock_reconciliation(self) -> bool: ...

    def stale_events(self, *, older_than_seconds: float, limit: int) -> Sequence[StaleEvent]: ...

    def mark_requeued(self, event_id: uuid.UUID) -> None: ...


# Opens one unit of work on the inbox (db.session.transaction in production).
Transaction = Callable[[], AbstractContextManager[Inbox]]
# Queues the event's task (task_queue.TaskQueue.enqueue in production); raises when it could not.
Enqueue = Callable[[NewOrderEvent], None]


def reconcile(
    *, transaction: Transaction, enqueue: Enqueue, older_than_seconds: float, limit: int
) -> int | None:
    """One pass over at most `limit` stale entries; the number queued again, or None when
    another replica holds the pass. A broker failure ends the pass early: what was queued so
    far is marked, the rest stays stale for the next pass."""
    requeued = 0
    with transaction() as inbox:
        if not inbox.lock_reconciliation():
            return None
        for entry in inbox.stale_events(older_than_seconds=older_than_seconds, limit=limit):
            event = _event(entry)
            if event is not None:
                try:
                    enqueue(event)
                except Exception as exc:
                    log.warning(
                        "reconcile.enqueue_failed",
                        order_id=str(entry.order_id),
                        error=type(exc).__name__,
                        detail=str(exc)[:300],
                        requeued=requeued,
                    )
                    break
                requeued += 1
            inbox.mark_requeued(entry.event_id)
    if requeued:
        log.info("reconcile.requeued", count=requeued)
    return requeued


def _event(entry: StaleEvent) -> NewOrderEvent | None:
    """The entry's event, or None (logged) when the inbox does not hold a usable copy; such an
    entry is marked, so it is logged once and not on every pass."""
    where = {"event_id": str(entry.event_id), "order_id": str(entry.order_id)}
    if entry.payload is None:
        log.warning("reconcile.payload_missing", **where)
        return None
    try:
        return parse_new_order(entry.payload)
    except ValidationError as exc:
        log.error("reconcile.payload_invalid", error=str(exc)[:300], **where)
        return None
