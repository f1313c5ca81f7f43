"""HTTP routes of orders-service: thin, every call needs a Bearer token."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import JSONResponse, Response

from orders_service.api.deps import (
    Cache,
    CachedReadWithinLimit,
    CallerWithinLimit,
    IdempotencyKeyHeader,
    Session,
    idempotency_key_ttl,
)
from orders_service.db.session import unit_of_work
from orders_service.schemas import OrderCreate, OrderRead, OrderUpdate
from orders_service.services import orders
from orders_service.services.errors import (
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    OrderForbidden,
    OrderNotFound,
    OrdersListForbidden,
    TransitionNotAllowed,
)
from service_kit.errors import (
    TooManyRequests,
    Unauthorized,
    Unavailable,
    error_responses,
)

# What every /orders call may answer, whatever it does.
COMMON = (
    (Unauthorized, "missing, invalid or expired Bearer token"),
    (TooManyRequests, "over the per-user rate limit"),
    (Unavailable, "the database is unavailable"),
)

# PostgreSQL's OFFSET is a bigint: any offset up to its maximum is answered (past the end: []).
MAX_OFFSET = 2**63 - 1


# Every call is counted against the per-user limit, once authenticated: by its caller's
# dependency (deps.caller_within_limit), or for GET /orders/{id}/ together with its cache read
# (deps.cached_read_within_limit).
router = APIRouter(prefix="/orders", tags=["orders"])


@router.post(
    "/",
    status_code=status.HTTP_201_CREATED,
    response_model=OrderRead,
    responses=error_responses(
        *COMMON,
        (IdempotencyKeyInFlight, "a request with the same Idempotency-Key is in progress"),
        (IdempotencyKeyReused, "the Idempotency-Key was already used with another body"),
        invalid="invalid items (see the Item rules), unknown fields, `total_price` not equal to "
        "the items' sum, a total above 9 999 999 999.99 (NUMERIC(12,2)), or an Idempotency-Key "
        "that is not 1 to 255 visible ASCII characters",
    ),
)
async def create_order(
    body: OrderCreate,
    request: Request,
    caller_id: CallerWithinLimit,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """Place an order (status PENDING) for the current user.

    The server computes `total_price` from the items with exact decimals; if the request
    sends `total_price` it must equal that sum. The largest total an order can hold is
    9 999 999 999.99 (stored as NUMERIC(12,2)); larger totals are refused with 422.
    A `new_order` event is queued in the same transaction.

    With an `Idempotency-Key`, a retry is safe: a repeat with the same key and the same body
    answers the first response again (201, the same order, its `Location`) and creates nothing;
    the same key with another body is a 422, and a repeat while the first request is still
    being handled a 409 (retry it). Keys are per user and kept at least 24 hours.
    """
    # the unit of work in the route, not a dependency: one less to resolve on every request
    async with unit_of_work(request.app.state.sessionmaker) as session:
        answer = await orders.place_order(
            session,
            caller_id=caller_id,
            data=body,
            idempotency_key=idempotency_key,
            key_ttl=idempotency_key_ttl(request),
        )
    return JSONResponse(
        answer.body,
        status_code=answer.status_code,
        headers={"Location": f"/orders/{answer.order_id}/"},
    )


@router.get(
    "/user/{user_id}/",
    response_model=list[OrderRead],
    responses=error_responses(
        *COMMON,
        (OrdersListForbidden, "another user's list"),
        invalid="user_id not an integer, limit not in 1..100, or offset not in 0..2^63-1 (an "
        "offset past the last order is an empty list)",
    ),
)
async def list_user_orders(
    user_id: int,
    caller_id: CallerWithinLimit,
    session: Session,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[OrderRead]:
    """The current user's orders, newest first."""
    return await orders.list_orders(
        session, caller_id=caller_id, owner_id=user_id, limit=limit, offset=offset
    )


@router.get(
    "/{order_id}/",
    response_model=OrderRead,
    responses=error_responses(
        *COMMON, OrderForbidden, OrderNotFound, invalid="order_id is not a UUID"
    ),
)
async def get_order(order_id: uuid.UUID, request: Request, read: CachedReadWithinLimit) -> Response:
    """One order of the current user (served from the Redis cache when it holds it)."""
    # the hottest route: its one dependency authenticates, counts and reads the cache; the
    # sessionmaker and the cache are the app's (FastAPI resolves a dependency on every request)
    state = request.app.state
    body = await orders.get_order(
        state.sessionmaker, state.cache, read.cached, caller_id=read.caller_id, order_id=order_id
    )
    return Response(body, media_type="application/json")


@router.patch(
    "/{order_id}/",
    response_model=OrderRead,
    responses=error_responses(
        *COMMON,
        OrderForbidden,
        OrderNotFound,
        (TransitionNotAllowed, "transition not allowed (SHIPPED and CANCELED are final)"),
        invalid='order_id is not a UUID, or the body is not `{"status": Status}`',
    ),
)
async def update_order_status(
    order_id: uuid.UUID,
    body: OrderUpdate,
    caller_id: CallerWithinLimit,
    session: Session,
    cache: Cache,
) -> OrderRead:
    """Change the status. Allowed: PENDING->PAID, PENDING->CANCELED, PAID->SHIPPED,
    PAID->CANCELED; the current status again is a no-op (200)."""
    return await orders.change_status(
        session, cache, caller_id=caller_id, order_id=order_id, status=body.status
    )
