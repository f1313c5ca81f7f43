"""The sending side of the Celery queue (the consumer, reconciliation): an event becomes one
`process_order` task.

The task name and its keyword arguments are the wire format between the consumer and the
worker; tasks already queued must still run after a deploy, so both stay as they are.
"""

from __future__ import annotations

from collections.abc import Sequence

from celery import Celery

from contracts import NewOrderEvent
from order_processor.celery_app import PUBLISH_RETRY_POLICY
from order_processor.tasks import PROCESS_ORDER


class TaskQueue:
    def __init__(self, celery: Celery, queue: str) -> None:
        self.celery = celery
        self.queue = queue

    def enqueue(self, event: NewOrderEvent) -> None:
        """Queue the order's task; raises when the broker refused it or did not answer within
        its timeouts (celery_app.py), so the caller never waits on the broker without limit."""
        self.enqueue_all([event])

    def enqueue_all(self, events: Sequence[NewOrderEvent]) -> None:
        """Queue the tasks of `events`, in order, on one producer: kombu's publish batch sends
        them to Redis in one pipeline when the block ends (a plain publish each on a transport
        without batches). Raises when the broker refused them or did not answer within its
        timeouts; a failed pipeline may have queued some, which the claim keeps harmless."""
        with self.celery.producer_or_acquire() as producer, producer.batch():
            for event in events:
                self.celery.send_task(
                    PROCESS_ORDER,
                    kwargs={
                        "order": event.data.model_dump(mode="json"),
                        "event_id": str(event.event_id),
                        "correlation_id": event.correlation_id,
                    },
                    queue=self.queue,
                    producer=producer,
                    retry=True,
                    retry_policy=PUBLISH_RETRY_POLICY,
                )
