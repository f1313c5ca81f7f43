"""The outbox backlog on /metrics, refreshed in the background (never on the scrape path): the
events written with their orders that Kafka has not acknowledged yet."""

from __future__ import annotations

import asyncio
import contextlib

from prometheus_client import Gauge
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orders_service.db.outbox_repository import OutboxRepository

OUTBOX_BACKLOG = Gauge("orders_outbox_backlog", "Outbox events not yet delivered to Kafka")
REFRESH_SECONDS = 2.0


async def refresh_forever(sessions: async_sessionmaker[AsyncSession]) -> None:
    while True:
        with contextlib.suppress(Exception):
            async with sessions() as session:
                OUTBOX_BACKLOG.set(await OutboxRepository(session).backlog())
        await asyncio.sleep(REFRESH_SECONDS)
