"""The outbox relay against real PostgreSQL and Kafka: publish, mark, retry, order, retention,
and the housekeeping of expired Idempotency-Keys."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orders_service.config import Settings
from orders_service.db.idempotency_repository import IdempotencyKeyRepository
from orders_service.db.models import IdempotencyKey, Order, OutboxMessage
from orders_service.db.outbox_repository import OutboxRepository
from orders_service.outbox_relay import Relay, RelayError, make_producer
from orders_service.schemas import OrderCreate
from orders_service.services.orders import create_order, place_order
from tests.support import read_topic


async def _rows(sessions: async_sessionmaker[AsyncSession]) -> list[OutboxMessage]:
    async with sessions() as session:
        return list((await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())


async def test_relay_publishes_each_row_and_then_marks_it(
    relay_settings: Settings, sessions, topic: str, make_rows
) -> None:
    rows = make_rows(5)
    async with sessions() as session, session.begin():
        session.add_all(rows)

    relay = Relay(relay_settings, sessions, make_producer(relay_settings))
    assert await relay.publish_batch() == 5

    stored = await _rows(sessions)
    assert all(r.published_at is not None and r.attempts == 1 for r in stored)
    messages = read_topic(relay_settings.kafka_bootstrap_servers, topic, expected=5)
    assert len(messages) == 5
    by_event = {json.loads(m.value())["event_id"]: m for m in messages}
    for row in stored:
        msg = by_event[str(row.event_id)]
        assert msg.key().decode() == row.key == row.payload["data"]["order_id"]
        assert json.loads(msg.value()) == row.payload
        headers = {k: v.decode() for k, v in msg.headers()}
        assert headers == {
            "event_id": str(row.event_id),
            "event_type": "new_order",
            "correlation_id": "relay-test",
        }
    assert await relay.publish_batch() == 0  # nothing left


async def test_unreachable_kafka_keeps_rows_records_the_error_and_they_go_out_later(
    relay_settings: Settings, sessions, topic: str, make_rows
) -> None:
    async with sessions() as session, session.begin():
        session.add_all(make_rows(3))
    nowhere = relay_settings.model_copy(
        update={"kafka_bootstrap_servers": "127.0.0.1:1", "relay_delivery_timeout_seconds": 1.0}
    )
    with pytest.raises(RelayError):
        await Relay(nowhere, sessions, make_producer(nowhere)).publish_batch()

    stored = await _rows(sessions)
    assert [r.published_at for r in stored] == [None, None, None]
    assert all(r.attempts == 1 and r.last_error for r in stored)

    assert await Relay(relay_settings, sessions, make_producer(relay_settings)).publish_batch() == 3
    stored = await _rows(sessions)
    assert all(
        r.published_at is not None and r.attempts == 2 and r.last_error is None for r in stored
    )
    assert len(read_topic(relay_settings.kafka_bootstrap_servers, topic, expected=3)) == 3


async def test_two_relays_never_hold_events_of_one_key_at_once(sessions, make_rows) -> None:
    first, second = make_rows(2, key="order-a")
    (other,) = make_rows(1, key="order-b")
    async with sessions() as session, session.begin():
        session.add_all([first, second, other])

    async with sessions() as a, a.begin():
        claimed_a = await OutboxRepository(a).claim_batch(10)
        # Only the head of each key: `second` waits until `first` is published.
        assert [r.event_id for r in claimed_a] == [first.event_id, other.event_id]
        async with sessions() as b, b.begin():
            # locked by a, or behind a locked head
            assert await OutboxRepository(b).claim_batch(10) == []
        await OutboxRepository(a).mark_published([r.id for r in claimed_a])

    async with sessions() as b, b.begin():
        assert [r.event_id for r in await OutboxRepository(b).claim_batch(10)] == [second.event_id]


async def test_retention_deletes_only_old_published_rows(
    relay_settings: Settings, sessions, make_rows
) -> None:
    old, recent, unpublished = make_rows(3)
    async with sessions() as session, session.begin():
        session.add_all([old, recent, unpublished])
    now = datetime.now(UTC)
    async with sessions() as session, session.begin():
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == old.id)
            .values(published_at=now - timedelta(hours=relay_settings.outbox_retention_hours + 1))
        )
        await session.execute(
            update(OutboxMessage).where(OutboxMessage.id == recent.id).values(published_at=now)
        )
    relay = Relay(relay_settings, sessions, make_producer(relay_settings))
    await relay.sweep()
    assert {r.event_id for r in await _rows(sessions)} == {recent.event_id, unpublished.event_id}


async def _keys_created(
    sessions: async_sessionmaker[AsyncSession], ages_in_hours: dict[str, float]
) -> None:
    """One order per key, made through the Idempotency-Key use case, each key `age` hours old."""
    body = OrderCreate.model_validate({"items": [{"name": "Tea", "quantity": 1, "price": "2.50"}]})
    now = datetime.now(UTC)
    async with sessions() as session, session.begin():
        await session.execute(delete(IdempotencyKey))
    for key, age in ages_in_hours.items():
        async with sessions() as session, session.begin():
            await place_order(
                session, caller_id=7, data=body, idempotency_key=key, key_ttl=timedelta(hours=24)
            )
            await session.execute(
                update(IdempotencyKey)
                .where(IdempotencyKey.key == key)
                .values(created_at=now - timedelta(hours=age))
            )


async def _keys(sessions: async_sessionmaker[AsyncSession]) -> set[str]:
    async with sessions() as session:
        return set((await session.scalars(select(IdempotencyKey.key))).all())


async def test_housekeeping_deletes_only_idempotency_keys_past_their_ttl(
    relay_settings: Settings, sessions
) -> None:
    ttl = relay_settings.idempotency_key_ttl_hours
    await _keys_created(sessions, {"old": ttl + 1, "older": ttl + 30, "fresh": ttl - 1})

    relay = Relay(relay_settings, sessions, make_producer(relay_settings))
    await relay.sweep()

    assert await _keys(sessions) == {"fresh"}


async def test_expired_keys_are_deleted_in_bounded_batches_oldest_first(sessions) -> None:
    await _keys_created(sessions, {"a": 50, "b": 40, "c": 30, "fresh": 1})
    cutoff = datetime.now(UTC) - timedelta(hours=24)

    async with sessions() as session, session.begin():
        assert await IdempotencyKeyRepository(session).delete_created_before(cutoff, 2) == 2
    assert await _keys(sessions) == {"c", "fresh"}


async def test_a_rolled_back_order_leaves_no_outbox_row(sessions) -> None:
    """The create_order use case writes the order and its event in the caller's transaction:
    when that transaction rolls back, neither exists."""
    body = OrderCreate.model_validate({"items": [{"name": "Tea", "quantity": 1, "price": "2.50"}]})
    async with sessions() as session, session.begin():
        created = await create_order(session, caller_id=7, data=body)
        await session.flush()
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 1
        await session.rollback()
    async with sessions() as session:
        assert await session.get(Order, created.order_id) is None
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


async def test_a_committed_order_has_exactly_one_new_order_event(sessions) -> None:
    body = OrderCreate.model_validate({"items": [{"name": "Tea", "quantity": 2, "price": "2.50"}]})
    async with sessions() as session, session.begin():
        created = await create_order(session, caller_id=7, data=body)
    async with sessions() as session:
        (row,) = (await session.scalars(select(OutboxMessage))).all()
    assert row.key == str(created.order_id)
    assert row.payload["event_type"] == "new_order"
    assert row.payload["data"]["order_id"] == str(created.order_id)
    assert row.payload["data"]["total_price"] == 5.0
