"""HTTP routes of orders-service: thin, every call needs a Bearer token."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status

from orders_service.api.deps import Cache, CurrentUser, Session, rate_limited
from orders_service.schemas import OrderCreate, OrderRead, OrderUpdate
from orders_service.services import orders

ErrorDoc = dict[int | str, dict[str, Any]]


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"detail": {"type": "string"}},
                    "required": ["detail"],
                }
            }
        },
    }


COMMON: ErrorDoc = {
    401: _error("missing, invalid or expired Bearer token (`WWW-Authenticate: Bearer`)"),
    429: _error("over the per-user rate limit (`Retry-After` in seconds)"),
    503: _error("the database is unavailable"),
}
FORBIDDEN: ErrorDoc = {403: _error("the order belongs to another user")}
NOT_FOUND: ErrorDoc = {404: _error("no order with this id")}

# PostgreSQL's OFFSET is a bigint: any offset up to its maximum is answered (past the end: []).
MAX_OFFSET = 2**63 - 1

router = APIRouter(prefix="/orders", tags=["orders"], dependencies=[Depends(rate_limited)])


@router.post(
    "/",
    status_code=status.HTTP_201_CREATED,
    response_model=OrderRead,
    responses={
        **COMMON,
        422: {
            "description": "invalid items (see the Item rules), unknown fields, `total_price` "
            "not equal to the items' sum, or a total above 9 999 999 999.99 (NUMERIC(12,2))"
        },
    },
)
async def create_order(
    body: OrderCreate, user_id: CurrentUser, session: Session, response: Response
) -> OrderRead:
    """Place an order (status PENDING) for the current user.

    The server computes `total_price` from the items with exact decimals; if the request
    sends `total_price` it must equal that sum. The largest total an order can hold is
    9 999 999 999.99 (stored as NUMERIC(12,2)); larger totals are refused with 422.
    A `new_order` event is queued in the same transaction.
    """
    order = await orders.create_order(session, user_id, body)
    response.headers["Location"] = f"/orders/{order.id}/"
    return order


@router.get(
    "/user/{user_id}/",
    response_model=list[OrderRead],
    responses={
        **COMMON,
        403: _error("another user's list"),
        422: {
            "description": "user_id not an integer, limit not in 1..100, or offset not in "
            "0..2^63-1 (an offset past the last order is an empty list)"
        },
    },
)
async def list_user_orders(
    user_id: int,
    current_user: CurrentUser,
    session: Session,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[OrderRead]:
    """The current user's orders, newest first."""
    return await orders.list_orders(session, current_user, user_id, limit, offset)


@router.get(
    "/{order_id}/",
    response_model=OrderRead,
    responses={**COMMON, **FORBIDDEN, **NOT_FOUND, 422: {"description": "order_id is not a UUID"}},
)
async def get_order(
    order_id: uuid.UUID, user_id: CurrentUser, session: Session, cache: Cache
) -> OrderRead:
    """One order of the current user (served from the Redis cache when it holds it)."""
    return await orders.get_order(session, cache, user_id, order_id)


@router.patch(
    "/{order_id}/",
    response_model=OrderRead,
    responses={
        **COMMON,
        **FORBIDDEN,
        **NOT_FOUND,
        409: _error("transition not allowed (SHIPPED and CANCELED are final)"),
        422: {"description": 'order_id is not a UUID, or the body is not `{"status": Status}`'},
    },
)
async def update_order_status(
    order_id: uuid.UUID, body: OrderUpdate, user_id: CurrentUser, session: Session, cache: Cache
) -> OrderRead:
    """Change the status. Allowed: PENDING->PAID, PENDING->CANCELED, PAID->SHIPPED,
    PAID->CANCELED; the current status again is a no-op (200)."""
    return await orders.change_status(session, cache, user_id, order_id, body.status)
