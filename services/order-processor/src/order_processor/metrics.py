"""Pipeline metrics on :8003/metrics, refreshed in the background (never on the scrape path):
the consumer group's lag on the topic, the Celery queue's depth, processed and failed orders,
task failures, and the tasks reconciliation queued again.

The worker runs in its own process (or container), so what it records reaches /metrics through
the database: the gauges are read from `order_runs`, and the task failure counter follows the
total of failed runs recorded there (it starts over when this process does, as counters do).
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from confluent_kafka import Consumer, TopicPartition
from prometheus_client import Counter, Gauge
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from order_processor.config import Settings
from order_processor.db.models import OrderRun, ProcessedOrder

log = structlog.get_logger(__name__)

CONSUMER_LAG = Gauge(
    "order_processor_consumer_lag", "Messages not yet committed by the consumer group"
)
QUEUE_DEPTH = Gauge("order_processor_queue_depth", "Tasks waiting in the Celery queue")
PROCESSED = Gauge("order_processor_processed_orders", "Rows in processed_orders")
ORDERS_FAILED = Gauge(
    "order_processor_orders_failed",
    "Orders parked as failed after their last attempt (python -m order_processor.failed)",
)
TASK_FAILURES = Counter(
    "order_processor_task_failures", "Task runs that failed with a non-transient error"
)
REQUEUED = Counter("order_processor_reconcile_requeued", "Tasks queued again by reconciliation")
REFRESH_SECONDS = 5.0


class _FailureTotal:
    """Turns the database's running total of failed runs into counter increments."""

    seen = 0

    def observe(self, total: int) -> None:
        if total > self.seen:
            TASK_FAILURES.inc(total - self.seen)
        self.seen = total


_failures = _FailureTotal()


def consumer_lag(settings: Settings) -> int:
    """High watermark minus committed offset, summed over the topic's partitions."""
    probe = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "group.id": settings.consumer_group,
            "enable.auto.commit": False,
        }
    )
    try:
        topic = probe.list_topics(settings.topic, timeout=3).topics[settings.topic]
        partitions = [TopicPartition(settings.topic, p) for p in topic.partitions]
        lag = 0
        for tp in probe.committed(partitions, timeout=3):
            _, high = probe.get_watermark_offsets(tp, timeout=3)
            lag += high - tp.offset if tp.offset >= 0 else high
        return lag
    finally:
        probe.close()


async def refresh_orders(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        processed = await conn.scalar(select(func.count()).select_from(ProcessedOrder))
        failed = await conn.scalar(
            select(func.count()).select_from(OrderRun).where(OrderRun.state == "failed")
        )
        failures = await conn.scalar(select(func.coalesce(func.sum(OrderRun.failures), 0)))
    PROCESSED.set(processed or 0)
    ORDERS_FAILED.set(failed or 0)
    _failures.observe(int(failures or 0))


async def refresh_forever(settings: Settings, engine: AsyncEngine, broker: Redis) -> None:
    while True:
        with contextlib.suppress(Exception):
            QUEUE_DEPTH.set(await broker.llen(settings.task_queue))
        with contextlib.suppress(Exception):
            await refresh_orders(engine)
        with contextlib.suppress(Exception):
            CONSUMER_LAG.set(await asyncio.to_thread(consumer_lag, settings))
        await asyncio.sleep(REFRESH_SECONDS)
