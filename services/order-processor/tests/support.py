"""Helpers for order-processor's tests: events, Kafka and Redis probes, the service's processes."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from redis import Redis
from sqlalchemy import Engine, func, select

from order_processor.config import Settings
from order_processor.db.models import ProcessedEvent, ProcessedOrder

SERVICE_DIR = Path(__file__).resolve().parents[1]


def new_order_event(order_id: uuid.UUID | None = None) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": "new_order",
        "event_version": 1,
        "occurred_at": now,
        "producer": "orders-service",
        "correlation_id": "consumer-test",
        "data": {
            "order_id": str(order_id or uuid.uuid4()),
            "user_id": 5,
            "items": [{"name": "Tea", "quantity": 2, "price": 4.5}],
            "total_price": 9.0,
            "status": "PENDING",
            "created_at": now,
        },
    }


def produce(settings: Settings, *values: bytes, key: bytes | None = None) -> None:
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers, "acks": "all"})
    for value in values:
        producer.produce(settings.topic, value=value, key=key)
    assert producer.flush(15) == 0


def read_all(settings: Settings, topic: str, expected: int) -> list[Any]:
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "group.id": f"reader-{uuid.uuid4()}",
            "enable.auto.commit": False,
        }
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        found: list[Any] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(found) < expected:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                found.append(msg)
        return found
    finally:
        consumer.close()


def queued(settings: Settings) -> int:
    return int(Redis.from_url(settings.celery_broker_url).llen(settings.task_queue))


def count(db: Engine, model: type[ProcessedEvent] | type[ProcessedOrder]) -> int:
    with db.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(model)) or 0)


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PROCESSOR_DATABASE_URL": settings.database_url,
        "PROCESSOR_TOPIC": settings.topic,
        "PROCESSOR_DLQ_TOPIC": settings.dlq_topic,
        "PROCESSOR_CONSUMER_GROUP": settings.consumer_group,
        "PROCESSOR_TASK_QUEUE": settings.task_queue,
        "PROCESSOR_LOG_JSON": "true",
        **extra,
    }


class Process:
    """A real process of this service, its output collected in a file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._out = log.open("ab")
        self.proc = subprocess.Popen(
            args, cwd=SERVICE_DIR, env=env, stdout=self._out, stderr=subprocess.STDOUT
        )

    def events(self) -> list[dict[str, Any]]:
        lines = self.log.read_text(errors="replace").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def stop(self, sig: int = 15, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        self._out.close()
        return code
