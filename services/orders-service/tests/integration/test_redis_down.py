"""Redis stopped for real: every endpoint keeps answering from PostgreSQL, without waiting for
Redis on each request (circuit breaker), and the cache comes back when Redis does.

Stopping Redis affects everyone using the shared stack, so this module does it once, briefly.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from stack_control import stopped
from tests.support import (
    Auth,
    MakeApp,
    capture_logs,
    client_for,
    create_order,
    eventually_async,
    log_events,
    wait_for_redis,
)

ALICE = 401
ROUNDS = 25


async def cached(redis: Redis, order_id: str) -> Any:
    raw = await redis.get(f"orders:order:{order_id}")
    return None if raw is None else json.loads(raw)


async def timed_get(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> float:
    started = time.perf_counter()
    response = await client.get(url, headers=headers)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text
    return elapsed


async def test_with_redis_stopped_every_endpoint_answers_from_postgresql(
    make_app: MakeApp, auth: Auth, caplog: pytest.LogCaptureFixture
) -> None:
    cached_app = await make_app(rate_limit_enabled=True, cache_breaker_seconds=1.0)
    uncached_app = await make_app(rate_limit_enabled=True, cache_enabled=False)
    strict_app = await make_app(rate_limit_enabled=True, rate_limit="3/minute")
    capture_logs(caplog)
    headers = auth(ALICE)

    async with (
        client_for(cached_app) as client,
        client_for(uncached_app) as plain,
        client_for(strict_app) as strict,
    ):
        before = await create_order(client, headers)
        await client.get(f"/orders/{before['id']}/", headers=headers)  # cached while Redis is up

        with stopped("redis"):
            created = await create_order(client, headers)
            url = f"/orders/{created['id']}/"
            got = await client.get(url, headers=headers)
            assert got.status_code == 200 and got.json() == created
            patched = await client.patch(url, json={"status": "PAID"}, headers=headers)
            assert patched.status_code == 200 and patched.json()["status"] == "PAID"
            assert (await client.get(url, headers=headers)).json()["status"] == "PAID"
            listed = await client.get(f"/orders/user/{ALICE}/", headers=headers)
            assert [o["id"] for o in listed.json()] == [created["id"], before["id"]]
            # The order cached before the outage changes while Redis cannot hear about it
            before_url = f"/orders/{before['id']}/"
            canceled = await client.patch(before_url, json={"status": "CANCELED"}, headers=headers)
            assert canceled.status_code == 200
            assert (await client.get(before_url, headers=headers)).json() == canceled.json()

            # A GET with Redis down costs about what it costs with the cache switched off
            with_breaker, without_cache = [], []
            for _ in range(ROUNDS):
                with_breaker.append(await timed_get(client, url, headers))
                without_cache.append(await timed_get(plain, url, headers))
            ratio = statistics.median(with_breaker) / statistics.median(without_cache)
            assert ratio < 3, (statistics.median(with_breaker), statistics.median(without_cache))
            # ... far below one 100 ms Redis timeout per request
            assert statistics.median(with_breaker) < 0.1

            # The rate limit still holds, counted in memory meanwhile
            codes = [
                (await strict.get(f"/orders/user/{ALICE}/", headers=headers)).status_code
                for _ in range(4)
            ]
            assert codes == [200, 200, 200, 429]

        assert len(log_events(caplog, "cache.breaker_opened")) == 1  # logged once, not per request

        # Redis is back: after the breaker's pause the cache is used again, and the change made
        # during the outage replaces the value cached before it
        redis: Redis = await wait_for_redis()
        try:
            await asyncio.sleep(1.1)
            fresh = await client.get(url, headers=headers)
            assert fresh.status_code == 200
            assert await redis.get(f"orders:order:{created['id']}") is not None

            async def outage_patch_cached() -> bool:
                return bool(await cached(redis, before["id"]) == canceled.json())

            await eventually_async(
                outage_patch_cached, 5, "the outage's PATCH reaching the cache", interval=0.05
            )
            again = await client.get(before_url, headers=headers)
            assert again.json()["status"] == "CANCELED"
        finally:
            await redis.aclose()
        assert len(log_events(caplog, "cache.breaker_closed")) == 1
