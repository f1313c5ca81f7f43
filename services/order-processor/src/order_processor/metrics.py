"""Pipeline gauges on :8003/metrics, refreshed in the background (never on the scrape path):
the consumer group's lag on the topic, the Celery queue's depth, and processed orders."""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from confluent_kafka import Consumer, TopicPartition
from prometheus_client import Gauge
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from order_processor.config import Settings
from order_processor.db.models import ProcessedOrder

log = structlog.get_logger(__name__)

CONSUMER_LAG = Gauge(
    "order_processor_consumer_lag", "Messages not yet committed by the consumer group"
)
QUEUE_DEPTH = Gauge("order_processor_queue_depth", "Tasks waiting in the Celery queue")
PROCESSED = Gauge("order_processor_processed_orders", "Rows in processed_orders")
REFRESH_SECONDS = 5.0


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


async def refresh_forever(settings: Settings, engine: AsyncEngine, broker: Redis) -> None:
    while True:
        with contextlib.suppress(Exception):
            QUEUE_DEPTH.set(await broker.llen(settings.task_queue))
        with contextlib.suppress(Exception):
            async with engine.connect() as conn:
                count = await conn.scalar(select(func.count()).select_from(ProcessedOrder))
            PROCESSED.set(count or 0)
        with contextlib.suppress(Exception):
            CONSUMER_LAG.set(await asyncio.to_thread(consumer_lag, settings))
        await asyncio.sleep(REFRESH_SECONDS)
