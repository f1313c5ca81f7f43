"""The Celery application: broker Redis db 1; the tasks live in order_processor.tasks."""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import setup_logging as celery_setup_logging

from order_processor.config import get_settings
from order_processor.logging import setup_logging

settings = get_settings()

app = Celery(
    "order_processor", broker=settings.celery_broker_url, include=["order_processor.tasks"]
)
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    # A task is acknowledged only when it has finished; a worker lost mid-task gives it back.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    worker_pool="threads",
    worker_concurrency=settings.worker_concurrency,
    # Longer than any task, so an unacknowledged task is not handed out twice while it runs.
    broker_transport_options={
        "visibility_timeout": max(60, int(settings.order_processing_seconds * 30))
    },
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    task_default_queue=settings.task_queue,
)


@celery_setup_logging.connect
def _configure_logging(**_: Any) -> None:
    setup_logging(settings)
