"""All SQL of the orders table (the outbox table has its own, in outbox_repository.py). The
caller's unit of work commits. A new order is inserted at once (as its outbox row is), so a
write fails inside the use case that made it, before anything is logged or answered."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TypedDict

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from orders_service.db.models import Order, OrderStatus

# The table itself (typed as a Table): add() inserts into it without the ORM's bookkeeping
_ORDERS = Order.metadata.tables[Order.__tablename__]


class NewOrderRow(TypedDict):
    """A new order's columns."""

    id: uuid.UUID
    user_id: int
    items: list[dict[str, Any]]
    total_price: Decimal
    status: OrderStatus
    created_at: datetime
    updated_at: datetime


class OrderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, order: NewOrderRow) -> None:
        """An INSERT of the table's, sent at once: no object for the session to track and
        flush, no ORM bulk-insert bookkeeping (the use case answers from the JSON it built the
        row from)."""
        await self.session.execute(insert(_ORDERS), [order])

    async def get(self, order_id: uuid.UUID) -> Order | None:
        return await self.session.get(Order, order_id)

    async def get_for_update(self, order_id: uuid.UUID) -> Order | None:
        """The row, locked (SELECT ... FOR UPDATE) until the transaction ends.

        `populate_existing` makes sure the locked, current row is what the caller sees even if
        the session already held an older copy.
        """
        stmt = (
            select(Order)
            .where(Order.id == order_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def set_status(self, order: Order, status: OrderStatus, updated_at: datetime) -> None:
        """Write a status change of a row read with `get_for_update`."""
        order.status = status
        order.updated_at = updated_at
        await self.session.flush()

    async def list_for_user(self, user_id: int, *, limit: int, offset: int) -> Sequence[Order]:
        """Newest first (index ix_orders_user_id_created_at); the id breaks ties."""
        stmt = (
            select(Order)
            .where(Order.user_id == user_id)
            .order_by(Order.created_at.desc(), Order.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return (await self.session.scalars(stmt)).all()
