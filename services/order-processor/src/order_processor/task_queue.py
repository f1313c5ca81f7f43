"""The sending side of the Celery queue (the consumer, reconciliation): an event becomes one
`process_order` task.

The task name and its keyword arguments are the wire format between the consumer and the
worker; tasks already queued must still run after a deploy, so both stay as they are.
"""

from __future__ import annotations

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
        self.celery.send_task(
            PROCESS_ORDER,
            kwargs={
                "order": event.data.model_dump(mode="json"),
                "event_id": str(event.event_id),
                "correlation_id": event.correlation_id,
            },
            queue=self.queue,
            retry=True,
            retry_policy=PUBLISH_RETRY_POLICY,
        )
