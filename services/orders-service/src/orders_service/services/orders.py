"""Order use cases. No FastAPI here: callers hand in a session (committed by the caller's unit of
work, `service_kit.db.unit_of_work` for HTTP) and the cache; failures are domain errors."""

from __future__ import annotations

import functools
import uuid
from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orders_service.db.models import OrderStatus
from orders_service.db.outbox_repository import OutboxRepository
from orders_service.db.repository import NewOrderRow, OrderRepository
from orders_service.db.session import after_commit
from orders_service.schemas import OrderCreate, OrderRead
from orders_service.services.cache import CachedOrder, OrderCache
from orders_service.services.errors import (
    OrderForbidden,
    OrderNotFound,
    OrdersListForbidden,
    TransitionNotAllowed,
)
from orders_service.services.idempotency import Answer, answer_once
from orders_service.services.outbox import new_order_message
from service_kit.logging import get_correlation_id

log = structlog.get_logger(__name__)

# SHIPPED and CANCELED are final; asking for the current status again is a no-op.
ALLOWED_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PENDING: frozenset({OrderStatus.PAID, OrderStatus.CANCELED}),
    OrderStatus.PAID: frozenset({OrderStatus.SHIPPED, OrderStatus.CANCELED}),
    OrderStatus.SHIPPED: frozenset(),
    OrderStatus.CANCELED: frozenset(),
}


def transition_allowed(current: OrderStatus, new: OrderStatus) -> bool:
    return new in ALLOWED_TRANSITIONS[current]


def utc_now() -> datetime:
    return datetime.now(UTC)


async def create_order(session: AsyncSession, *, caller_id: int, data: OrderCreate) -> Answer:
    """The caller's new order and its `new_order` outbox row, in the caller's transaction: 201
    and the order's JSON, dumped once for the row, the event and the answer."""
    now = utc_now()
    # the items are validated already (OrderCreate): an OrderRead built from them keeps them
    created = OrderRead(
        id=uuid.uuid4(),
        user_id=caller_id,
        items=data.items,
        total_price=data.total,
        status=OrderStatus.PENDING,
        created_at=now,
        updated_at=now,
    )
    body = created.model_dump(mode="json")
    await OrderRepository(session).add(
        NewOrderRow(
            id=created.id,
            user_id=caller_id,
            items=body["items"],
            total_price=created.total_price,
            status=created.status,
            created_at=now,
            updated_at=now,
        )
    )
    await OutboxRepository(session).add(new_order_message(body, get_correlation_id()))
    log.info(
        "orders.created",
        order_id=body["id"],
        user_id=caller_id,
        items=len(created.items),
        total_price=str(created.total_price),
    )
    return Answer(HTTPStatus.CREATED, body, created.id)


async def place_order(
    session: AsyncSession,
    *,
    caller_id: int,
    data: OrderCreate,
    idempotency_key: str | None,
    key_ttl: timedelta,
) -> Answer:
    """POST /orders/'s answer: 201 and the new order; with an `Idempotency-Key`, the first
    answer to the caller's key once it exists (see services/idempotency.py)."""
    created = functools.partial(create_order, session, caller_id=caller_id, data=data)
    if idempotency_key is None:
        return await created()
    return await answer_once(
        session, user_id=caller_id, key=idempotency_key, request=data, ttl=key_ttl, answer=created
    )


async def get_order(
    sessions: async_sessionmaker[AsyncSession],
    cache: OrderCache,
    cached: CachedOrder | None,
    *,
    caller_id: int,
    order_id: uuid.UUID,
) -> bytes:
    """The Order JSON of one of the caller's orders. Read-through: `cached` is what the cache
    held (`cache.get(order_id)`, read by the caller: see api/deps.py); a hit is the answer, and
    no database session is opened; a miss reads PostgreSQL and fills the cache. Only the owner
    may read it, on a cache hit too."""
    if cached is not None:
        if cached.user_id != caller_id:
            raise OrderForbidden()
        return cached.json
    async with sessions() as session:
        row = await OrderRepository(session).get(order_id)
        if row is None:
            raise OrderNotFound()
        order = OrderRead.model_validate(row)
    await cache.fill(order)
    if order.user_id != caller_id:
        raise OrderForbidden()
    return order.model_dump_json().encode()


async def change_status(
    session: AsyncSession,
    cache: OrderCache,
    *,
    caller_id: int,
    order_id: uuid.UUID,
    status: OrderStatus,
) -> OrderRead:
    """Move the caller's order to `status`, holding the row lock so concurrent changes queue up."""
    orders = OrderRepository(session)
    row = await orders.get_for_update(order_id)
    if row is None:
        raise OrderNotFound()
    if row.user_id != caller_id:
        raise OrderForbidden()
    previous = row.status
    if status == previous:
        return OrderRead.model_validate(row)
    if not transition_allowed(previous, status):
        raise TransitionNotAllowed(f"status transition not allowed: {previous} -> {status}")
    # Strictly later than the previous version even if this replica's clock is behind:
    # the cache orders versions by updated_at (see services/cache.py).
    updated_at = max(utc_now(), row.updated_at + timedelta(microseconds=1))
    await orders.set_status(row, status, updated_at)
    changed = OrderRead.model_validate(row)
    after_commit(session, functools.partial(cache.refresh, changed))
    log.info(
        "orders.status_changed",
        order_id=str(order_id),
        user_id=caller_id,
        from_status=str(previous),
        to_status=str(status),
    )
    return changed


async def list_orders(
    session: AsyncSession, *, caller_id: int, owner_id: int, limit: int, offset: int
) -> list[OrderRead]:
    """`owner_id`'s orders, newest first; only the owner may list them."""
    if owner_id != caller_id:
        raise OrdersListForbidden()
    rows = await OrderRepository(session).list_for_user(owner_id, limit=limit, offset=offset)
    return [OrderRead.model_validate(row) for row in rows]
