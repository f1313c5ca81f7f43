"""The references the throughput figures are ratios to: the least a FastAPI app on the same
uvicorn settings must do for the same answer. Run by uvicorn from benchmarks/ as factories
(`uvicorn ceilings:get_ceiling --factory`); configured by environment variables:

- BENCH_TOKENS: JSON {bearer token: user id}, the tokens auth-service minted for the bench users;
- BENCH_REDIS_URL: the Redis holding the cached orders (get_ceiling);
- BENCH_DATABASE_URL: the bench's orders database (post_ceiling).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fastapi import FastAPI, Request, Response
from redis.asyncio import Redis

from contracts import NEW_ORDER_TOPIC
from orders_service.db.models import Order, OrderStatus, OutboxMessage
from service_kit.db import make_engine, make_sessionmaker

CONSTANT = {"status": "ok", "detail": "a constant answer"}


def _users() -> dict[str, int]:
    return {
        f"Bearer {token}": user for token, user in json.loads(os.environ["BENCH_TOKENS"]).items()
    }


def _health(app: FastAPI) -> FastAPI:
    app.add_api_route("/health", lambda: CONSTANT)
    return app


def bare() -> FastAPI:
    """A route that returns a constant dict: FastAPI's own cost per request."""
    app = FastAPI()

    @app.get("/orders/{order_id}/")
    async def constant() -> dict[str, str]:
        return CONSTANT

    return _health(app)


def get_ceiling() -> FastAPI:
    """GET /orders/{id}/ done with the fewest steps: the bearer looked up in a dict, one Redis
    GET, the owner checked in the cached bytes, the bytes answered as they are."""
    users = _users()
    redis = Redis.from_url(os.environ["BENCH_REDIS_URL"])

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await redis.aclose()

    app = FastAPI(lifespan=lifespan)

    @app.get("/orders/{order_id}/")
    async def get_order(order_id: str, request: Request) -> Response:
        user = users.get(request.headers.get("authorization", ""))
        if user is None:
            return Response(b'{"detail":"invalid or expired token"}', 401)
        raw = await redis.get(f"orders:order:{order_id}")
        if raw is None:
            return Response(b'{"detail":"not cached"}', 404)
        if f'"user_id":{user},'.encode() not in raw:
            return Response(b'{"detail":"not yours"}', 403)
        return Response(raw, media_type="application/json")

    return _health(app)


def post_ceiling() -> FastAPI:
    """POST /orders/ with the same rows: the order and its outbox event added as ORM objects
    through SQLAlchemy async + asyncpg (the services' engine settings), one commit."""
    users = _users()
    engine = make_engine(os.environ["BENCH_DATABASE_URL"])
    sessions = make_sessionmaker(engine)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)

    @app.post("/orders/", status_code=201)
    async def create_order(request: Request) -> Any:
        user = users.get(request.headers.get("authorization", ""))
        if user is None:
            return Response(b'{"detail":"invalid or expired token"}', 401)
        items = (await request.json())["items"]
        total = sum(Decimal(i["price"]) * i["quantity"] for i in items)
        now = datetime.now(UTC)
        order = {
            "id": str(uuid.uuid4()),
            "user_id": user,
            "items": items,
            "total_price": str(total),
            "status": "PENDING",
            "created_at": now.isoformat(),
            "updated_at": now.isoformat(),
        }
        event_id = uuid.uuid4()
        async with sessions() as session:
            session.add(
                Order(
                    id=uuid.UUID(order["id"]),
                    user_id=user,
                    items=items,
                    total_price=total,
                    status=OrderStatus.PENDING,
                    created_at=now,
                    updated_at=now,
                )
            )
            session.add(
                OutboxMessage(
                    event_id=event_id,
                    topic=NEW_ORDER_TOPIC,
                    key=order["id"],
                    payload={"event_id": str(event_id), "data": order},
                    headers={"event_type": "new_order"},
                )
            )
            await session.commit()
        return order

    return _health(app)
