"""Real PostgreSQL (the `_test` database), Kafka topics and a Redis queue made for each test;
the consumer and the Celery worker run as real processes against them."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from redis import Redis
from sqlalchemy import Engine, create_engine, delete

from order_processor.config import Settings, get_settings
from order_processor.db.models import OrderRun, ProcessedEvent, ProcessedOrder
from stack_control.db import migrated_test_database
from tests.support import SERVICE_DIR, Process, env_for


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    base = get_settings()
    url = migrated_test_database(SERVICE_DIR, "PROCESSOR_DATABASE_URL", base.database_url)
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
        conn.execute(delete(OrderRun))
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


def _worker(app: str, *pool: str) -> list[str]:
    return [
        sys.executable, "-m", "celery", "-A", app, "worker", *pool,
        "--loglevel", "INFO", "--without-mingle", "--without-gossip",
        "--hostname", f"test-{uuid.uuid4().hex[:6]}@%h",
    ]  # fmt: skip


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Process]]:
    started: list[Process] = []

    def run(kind: str, settings: Settings, **extra: str) -> Process:
        args = {
            "consumer": [sys.executable, "-m", "order_processor.consumer"],
            "worker": _worker("order_processor.celery_app", "--pool", "solo"),
            # several tasks at once, as in production
            "threaded-worker": _worker(
                "order_processor.celery_app", "--pool", "threads", "--concurrency", "4"
            ),
            # the production task, its work replaced by one that always raises
            "failing-worker": _worker("tests.failing_worker", "--pool", "solo"),
        }[kind]
        process = Process(args, env_for(settings, **extra), tmp_path / f"{kind}-{len(started)}.log")
        started.append(process)
        return process

    yield run
    for process in started:
        if process.proc.poll() is None:
            process.stop(9, 10)
