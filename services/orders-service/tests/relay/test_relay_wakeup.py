"""The relay's loop against real PostgreSQL (LISTEN/NOTIFY) and Kafka: a row that commits while
the relay is busy is published at once, not one poll interval later."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orders_service.config import Settings
from orders_service.db.models import OutboxMessage
from orders_service.outbox_relay import Relay, make_producer
from service_kit.db import postgres_url
from tests.support import eventually_async

# Long enough that waiting it out fails the test's deadline by far.
POLL_SECONDS = 60.0
DEADLINE_SECONDS = 10.0


class NotifiedWhileClaiming(Relay):
    """The real relay, except that during its first turn, once the claim has come back empty,
    `row` commits and its NOTIFY reaches the relay before the turn ends."""

    def __init__(self, *args: Any, row: OutboxMessage, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.row = row
        self.turns = 0

    async def publish_batch(self) -> int:
        published = await super().publish_batch()
        self.turns += 1
        if self.turns == 1:
            assert published == 0
            async with self.sessions() as session, session.begin():
                session.add(self.row)
            await asyncio.wait_for(self.wake.wait(), DEADLINE_SECONDS)  # the NOTIFY
        return published


async def _published(sessions: async_sessionmaker[AsyncSession], row: OutboxMessage) -> bool:
    async with sessions() as session:
        published_at = await session.scalar(
            select(OutboxMessage.published_at).where(OutboxMessage.event_id == row.event_id)
        )
    return published_at is not None


async def test_a_notify_during_a_turn_wakes_the_relay_right_after_it(
    relay_settings: Settings, sessions: async_sessionmaker[AsyncSession], topic: str, make_rows
) -> None:
    settings = relay_settings.model_copy(update={"relay_poll_seconds": POLL_SECONDS})
    (row,) = make_rows(1)
    relay = NotifiedWhileClaiming(settings, sessions, make_producer(settings), row=row)
    listener = asyncio.create_task(relay.listen(postgres_url(settings.database_url)))
    loop: asyncio.Task[None] | None = None
    try:
        # Listening (the listener wakes the relay once connected); from now on only the row's
        # NOTIFY sets the event.
        await asyncio.wait_for(relay.wake.wait(), DEADLINE_SECONDS)
        relay.wake.clear()
        loop = asyncio.create_task(relay.run())

        await eventually_async(
            lambda: _published(sessions, row),
            DEADLINE_SECONDS,
            "the row that committed during a turn published without a poll interval's wait",
            interval=0.05,
        )
        assert relay.turns >= 2
    finally:
        relay.stop()
        if loop is not None:
            await asyncio.wait_for(loop, DEADLINE_SECONDS)
        await asyncio.wait_for(listener, DEADLINE_SECONDS)  # it stops with the relay
        relay.producer.flush(5)
