"""The worker's reference: a Celery app whose one task does nothing, with the broker and the
worker settings of order_processor.celery_app that shape throughput (threads pool, the same
concurrency, prefetch 1, late acks, JSON). `celery -A noop_worker worker` from benchmarks/, the
broker in BENCH_BROKER_URL, the queue in BENCH_QUEUE."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery

NOOP = "bench.noop"

# No default broker: the stack's own (Redis db 1) must never receive a bench task.
app = Celery("bench_noop", broker=os.environ.get("BENCH_BROKER_URL"))
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    worker_pool="threads",
    worker_concurrency=int(os.environ.get("PROCESSOR_WORKER_CONCURRENCY", "128")),
    worker_hijack_root_logger=False,
    task_default_queue=os.environ.get("BENCH_QUEUE", "bench-noop"),
)


@app.task(name=NOOP)
def noop(
    order: dict[str, Any], event_id: str | None = None, correlation_id: str | None = None
) -> None:
    """Takes what process_order takes, does nothing."""
