"""The Redis read-through cache of GET /orders/{id}/, on real Redis (db 3) and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from redis.asyncio import Redis

from orders_service.schemas import OrderRead
from orders_service.services.cache import OrderCache
from tests.support import Auth, MakeApp, StatementLog, client_for, create_order

ALICE, BOB = 301, 302


def key(order_id: str) -> str:
    return f"orders:order:{order_id}"


async def cached(redis: Redis, order_id: str) -> dict[str, Any] | None:
    raw = await redis.get(key(order_id))
    return None if raw is None else dict(json.loads(raw))


async def test_a_get_fills_the_cache_with_the_order_json_for_300_seconds(
    client: httpx.AsyncClient, auth: Auth, redis: Redis
) -> None:
    order = await create_order(client, auth(ALICE))
    assert await cached(redis, order["id"]) is None  # POST does not fill it

    response = await client.get(f"/orders/{order['id']}/", headers=auth(ALICE))

    assert response.status_code == 200
    assert await cached(redis, order["id"]) == response.json() == order
    assert await redis.ttl(key(order["id"])) == 300


async def test_a_second_get_does_not_touch_postgresql(
    client: httpx.AsyncClient, auth: Auth, sql: StatementLog
) -> None:
    order = await create_order(client, auth(ALICE))
    url = f"/orders/{order['id']}/"

    sql.clear()
    first = await client.get(url, headers=auth(ALICE))
    assert first.status_code == 200
    assert any("FROM orders" in s for s in sql.statements)

    sql.clear()
    second = await client.get(url, headers=auth(ALICE))
    assert second.status_code == 200
    assert second.json() == first.json()
    assert sql.statements == []


async def test_the_owner_check_runs_on_cache_hits(
    client: httpx.AsyncClient, auth: Auth, redis: Redis, sql: StatementLog
) -> None:
    order = await create_order(client, auth(ALICE))
    await client.get(f"/orders/{order['id']}/", headers=auth(ALICE))
    assert await cached(redis, order["id"]) is not None

    sql.clear()
    response = await client.get(f"/orders/{order['id']}/", headers=auth(BOB))

    assert response.status_code == 403
    assert sql.statements == []  # answered from the cache


async def test_a_patch_refreshes_the_cached_value(
    client: httpx.AsyncClient, auth: Auth, redis: Redis, sql: StatementLog
) -> None:
    order = await create_order(client, auth(ALICE))
    url = f"/orders/{order['id']}/"
    await client.get(url, headers=auth(ALICE))

    patched = await client.patch(url, json={"status": "PAID"}, headers=auth(ALICE))

    assert patched.status_code == 200
    assert await cached(redis, order["id"]) == patched.json()
    assert await redis.ttl(key(order["id"])) == 300
    sql.clear()
    again = await client.get(url, headers=auth(ALICE))
    assert again.json()["status"] == "PAID"
    assert sql.statements == []


async def test_a_patch_fills_an_empty_cache(
    client: httpx.AsyncClient, auth: Auth, redis: Redis
) -> None:
    order = await create_order(client, auth(ALICE))
    patched = await client.patch(
        f"/orders/{order['id']}/", json={"status": "CANCELED"}, headers=auth(ALICE)
    )
    assert await cached(redis, order["id"]) == patched.json()


async def test_an_unreadable_cached_value_is_a_miss(
    client: httpx.AsyncClient, auth: Auth, redis: Redis
) -> None:
    order = await create_order(client, auth(ALICE))
    await redis.set(key(order["id"]), b"{not json", ex=300)

    response = await client.get(f"/orders/{order['id']}/", headers=auth(ALICE))

    assert response.status_code == 200
    assert response.json() == order


class SlowReaderCache(OrderCache):
    """The real cache, except that a read-through fill waits for a signal first: it lets a test
    put a PATCH between a reader's SELECT and its cache write."""

    def __init__(self, cache: OrderCache) -> None:
        super().__init__(
            cache.redis, cache.pipeline, cache.ttl_seconds, cache.breaker, cache.enabled
        )
        self.read_done = asyncio.Event()
        self.may_write = asyncio.Event()

    async def fill(self, order: OrderRead) -> None:
        self.read_done.set()
        await self.may_write.wait()
        await super().fill(order)


async def test_a_slow_reader_racing_a_patch_leaves_no_stale_value(
    app: FastAPI, client: httpx.AsyncClient, auth: Auth, redis: Redis
) -> None:
    order = await create_order(client, auth(ALICE))
    url = f"/orders/{order['id']}/"
    slow = SlowReaderCache(app.state.cache)
    app.state.cache = slow

    # 1. the reader misses the cache and reads the PENDING row, then stalls before writing
    reader = asyncio.create_task(client.get(url, headers=auth(ALICE)))
    await asyncio.wait_for(slow.read_done.wait(), 5)

    # 2. a PATCH commits PAID and refreshes the cache meanwhile
    patched = await client.patch(url, json={"status": "PAID"}, headers=auth(ALICE))
    assert patched.status_code == 200
    assert (await cached(redis, order["id"]) or {})["status"] == "PAID"

    # 3. the reader finally writes the PENDING row it read earlier
    slow.may_write.set()
    stale_read = await reader
    assert stale_read.json()["status"] == "PENDING"  # it answered with what it read

    # ... but the cache keeps the newer value
    assert await cached(redis, order["id"]) == patched.json()
    again = await client.get(url, headers=auth(ALICE))
    assert again.json()["status"] == "PAID"


async def test_refreshes_arriving_out_of_order_keep_the_latest_state(
    app: FastAPI, client: httpx.AsyncClient, auth: Auth, redis: Redis
) -> None:
    order = await create_order(client, auth(ALICE))
    url = f"/orders/{order['id']}/"
    paid = OrderRead.model_validate(
        (await client.patch(url, json={"status": "PAID"}, headers=auth(ALICE))).json()
    )
    shipped = (await client.patch(url, json={"status": "SHIPPED"}, headers=auth(ALICE))).json()

    cache: OrderCache = app.state.cache
    await cache.refresh(paid)  # the older refresh lands last

    assert await cached(redis, order["id"]) == shipped


async def test_with_the_cache_switched_off_redis_is_not_used(
    make_app: MakeApp, auth: Auth, redis: Redis
) -> None:
    app = await make_app(cache_enabled=False)
    async with client_for(app) as client:
        order = await create_order(client, auth(ALICE))
        response = await client.get(f"/orders/{order['id']}/", headers=auth(ALICE))
    assert response.status_code == 200
    assert await redis.get(key(order["id"])) is None


async def test_a_miss_for_an_unknown_order_caches_nothing(
    client: httpx.AsyncClient, auth: Auth, redis: Redis
) -> None:
    missing = str(uuid.uuid4())
    response = await client.get(f"/orders/{missing}/", headers=auth(ALICE))
    assert response.status_code == 404
    assert await redis.exists(key(missing)) == 0
