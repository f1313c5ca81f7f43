"""Real PostgreSQL (the `_test` database), Kafka topics and a Redis queue made for each test;
the consumer and the Celery worker run as real processes against them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from redis import Redis
from sqlalchemy import Engine, create_engine, delete, func, select

from order_processor.config import Settings, get_settings
from order_processor.db.models import ProcessedEvent, ProcessedOrder
from stack_control.db import alembic, db_url_for_tests

SERVICE_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    base = get_settings()
    url = db_url_for_tests(base.database_url)
    alembic(SERVICE_DIR, "PROCESSOR_DATABASE_URL", url, "upgrade", "head")
    return base.model_copy(update={"database_url": url})


@pytest.fixture(scope="session")
def db(base_settings: Settings) -> Iterator[Engine]:
    engine = create_engine(base_settings.sync_database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(base_settings: Settings, db: Engine) -> Iterator[Settings]:
    """Fresh topics, group and queue for one test; tables emptied."""
    admin = AdminClient({"bootstrap.servers": base_settings.kafka_bootstrap_servers})
    tag = uuid.uuid4().hex[:10]
    topic, dlq = f"new_order.test-{tag}", f"new_order.dlq.test-{tag}"
    for future in admin.create_topics([NewTopic(topic, 3, 1), NewTopic(dlq, 1, 1)]).values():
        future.result(15)
    with db.begin() as conn:
        conn.execute(delete(ProcessedEvent))
        conn.execute(delete(ProcessedOrder))
    yield base_settings.model_copy(
        update={
            "topic": topic,
            "dlq_topic": dlq,
            "consumer_group": f"order-processor-test-{tag}",
            "task_queue": f"orders-test-{tag}",
        }
    )
    Redis.from_url(base_settings.celery_broker_url).delete(f"orders-test-{tag}")
    for future in admin.delete_topics([topic, dlq]).values():
        future.result(15)


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


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Process]]:
    started: list[Process] = []

    def run(kind: str, settings: Settings, **extra: str) -> Process:
        args = {
            "consumer": [sys.executable, "-m", "order_processor.consumer"],
            "worker": [
                sys.executable, "-m", "celery", "-A", "order_processor.celery_app", "worker",
                "--pool", "solo", "--loglevel", "INFO", "--without-mingle", "--without-gossip",
                "--hostname", f"test-{uuid.uuid4().hex[:6]}@%h",
            ],
        }[kind]  # fmt: skip
        process = Process(args, env_for(settings, **extra), tmp_path / f"{kind}-{len(started)}.log")
        started.append(process)
        return process

    yield run
    for process in started:
        if process.proc.poll() is None:
            process.stop(9, 10)


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


def eventually(probe: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {seconds} s")
        time.sleep(0.1)
