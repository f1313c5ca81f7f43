"""All SQL of the orders API (the outbox relay has its own, in outbox_repository.py)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orders_service.db.models import Order


def add(session: AsyncSession, order: Order) -> None:
    session.add(order)


async def get(session: AsyncSession, order_id: uuid.UUID) -> Order | None:
    return await session.get(Order, order_id)


async def get_for_update(session: AsyncSession, order_id: uuid.UUID) -> Order | None:
    """The row, locked (SELECT ... FOR UPDATE) until the transaction ends.

    `populate_existing` makes sure the locked, current row is what the caller sees even if the
    session already held an older copy.
    """
    stmt = (
        select(Order)
        .where(Order.id == order_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.scalars(stmt)).one_or_none()


async def list_for_user(
    session: AsyncSession, user_id: int, limit: int, offset: int
) -> Sequence[Order]:
    """Newest first (index ix_orders_user_id_created_at); the id breaks ties."""
    stmt = (
        select(Order)
        .where(Order.user_id == user_id)
        .order_by(Order.created_at.desc(), Order.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return (await session.scalars(stmt)).all()
