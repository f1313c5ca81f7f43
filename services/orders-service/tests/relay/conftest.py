"""Fixtures for the outbox relay tests: the test database, a fresh Kafka topic, outbox rows."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orders_service.config import Settings, get_settings
from orders_service.db.models import OutboxMessage
from orders_service.services.outbox import new_order_message
from service_kit.db import make_engine, make_sessionmaker
from stack_control.db import alembic, db_url_for_tests
from tests.support import SERVICE_DIR, order_json


@pytest.fixture(scope="session")
def relay_settings() -> Settings:
    base = get_settings()
    url = db_url_for_tests(base.database_url)
    alembic(SERVICE_DIR, "ORDERS_DATABASE_URL", url, "upgrade", "head")
    return base.model_copy(
        update={
            "database_url": url,
            "relay_batch_size": 50,
            "relay_delivery_timeout_seconds": 5.0,
            "relay_poll_seconds": 0.2,
        }
    )


@pytest.fixture
async def sessions(relay_settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(relay_settings.database_url)
    maker = make_sessionmaker(engine)
    async with maker() as session, session.begin():
        await session.execute(delete(OutboxMessage))
    yield maker
    await engine.dispose()


@pytest.fixture(scope="session")
def admin(relay_settings: Settings) -> AdminClient:
    return AdminClient({"bootstrap.servers": relay_settings.kafka_bootstrap_servers})


@pytest.fixture
def topic(admin: AdminClient) -> Iterator[str]:
    name = f"relay-test-{uuid.uuid4().hex[:12]}"
    for future in admin.create_topics([NewTopic(name, 3, 1)]).values():
        future.result(15)
    yield name
    for future in admin.delete_topics([name]).values():
        future.result(15)


@pytest.fixture
def make_rows(topic: str) -> Callable[..., list[OutboxMessage]]:
    def make(count: int, key: str | None = None) -> list[OutboxMessage]:
        rows = []
        for _ in range(count):
            row = OutboxMessage(**new_order_message(order_json(), correlation_id="relay-test"))
            row.topic = topic
            if key is not None:
                row.key = key
            rows.append(row)
        return rows

    return make
