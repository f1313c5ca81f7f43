"""All SQL of the outbox table: a row is written in the transaction of the change it reports,
then claimed, marked and finally deleted by the relay."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypedDict

from sqlalchemy import (
    BigInteger,
    Text,
    and_,
    any_,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from orders_service.db.models import OutboxMessage

# The table itself (typed as a Table): add() inserts into it without the ORM's bookkeeping
_OUTBOX = OutboxMessage.metadata.tables[OutboxMessage.__tablename__]


class NewOutboxRow(TypedDict):
    """A row to add: the columns a writer sets (the others start as their defaults)."""

    event_id: uuid.UUID
    topic: str
    key: str
    payload: dict[str, Any]
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class ClaimedEvent:
    """A claimed row as the relay sends it: the payload as PostgreSQL's text of the JSON, so
    that a backlog is not parsed and serialised again on its way to Kafka."""

    id: int
    event_id: uuid.UUID
    topic: str
    key: str
    payload: str
    headers: dict[str, str]


class OutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, row: NewOutboxRow) -> None:
        """In the caller's transaction: the event exists if and only if the change commits.
        An INSERT of the table's, sent at once (as OrderRepository.add's)."""
        await self.session.execute(insert(_OUTBOX), [row])

    async def claim_batch(self, limit: int) -> list[ClaimedEvent]:
        """Lock up to `limit` unpublished rows that no other relay holds, oldest first.

        A row is taken only if no earlier unpublished row has the same key: two relays never
        hold two events of one key at once, so events that share a key leave in order.
        """
        earlier = aliased(OutboxMessage)
        head_of_key = ~exists().where(
            and_(
                earlier.key == OutboxMessage.key,
                earlier.id < OutboxMessage.id,
                earlier.published_at.is_(None),
            )
        )
        stmt = (
            select(
                OutboxMessage.id,
                OutboxMessage.event_id,
                OutboxMessage.topic,
                OutboxMessage.key,
                cast(OutboxMessage.payload, Text),
                OutboxMessage.headers,
            )
            .where(OutboxMessage.published_at.is_(None), head_of_key)
            .order_by(OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [ClaimedEvent(*row) for row in await self.session.execute(stmt)]

    async def mark_published(self, ids: Sequence[int]) -> None:
        """Called once the delivery reports arrived; clock_timestamp(), not now(): the claiming
        transaction began before the events were produced. One array parameter, not one
        parameter per id: a single prepared statement whatever the batch's size."""
        if ids:
            await self.session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == any_(literal(list(ids), ARRAY(BigInteger))))
                .values(
                    published_at=func.clock_timestamp(),
                    attempts=OutboxMessage.attempts + 1,
                    last_error=None,
                )
            )

    async def mark_failed(self, errors: dict[int, str]) -> None:
        for row_id, error in errors.items():
            await self.session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row_id)
                .values(attempts=OutboxMessage.attempts + 1, last_error=error[:1000])
            )

    async def delete_published_before(self, cutoff: datetime) -> int:
        result = await self.session.execute(
            delete(OutboxMessage).where(
                OutboxMessage.published_at.is_not(None), OutboxMessage.published_at < cutoff
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def backlog(self) -> int:
        count = await self.session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.published_at.is_(None))
        )
        return int(count or 0)


def retention_cutoff(now: datetime, hours: float) -> datetime:
    return now - timedelta(hours=hours)
