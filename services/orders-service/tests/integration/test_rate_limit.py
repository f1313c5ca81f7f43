"""The per-user rate limit on /orders calls (counters in Redis db 3 in tests)."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from redis.asyncio import Redis

from tests.support import Auth, MakeApp, client_for, create_order

ALICE, BOB = 501, 502


async def test_over_the_limit_is_429_with_retry_after_per_user(
    make_app: MakeApp, auth: Auth, redis: Redis
) -> None:
    app = await make_app(rate_limit_enabled=True, rate_limit="3/minute")
    async with client_for(app) as client:
        url = f"/orders/user/{ALICE}/"
        for _ in range(3):
            assert (await client.get(url, headers=auth(ALICE))).status_code == 200
        # every /orders call counts against the same per-user budget
        limited = await client.get(f"/orders/{uuid.uuid4()}/", headers=auth(ALICE))

        assert limited.status_code == 429
        assert limited.json()["detail"].startswith("rate limit exceeded")
        assert 1 <= int(limited.headers["retry-after"]) <= 61
        # another user has a budget of their own
        assert (await client.get(f"/orders/user/{BOB}/", headers=auth(BOB))).status_code == 200
        # a request without a valid token is refused before it is counted
        assert (await client.get(url)).status_code == 401
    assert any(b"user:501" in k for k in await redis.keys("*ratelimit*"))  # shared in Redis


async def test_calls_without_a_valid_token_are_limited_per_ip_before_verification(
    make_app: MakeApp, auth: Auth
) -> None:
    app = await make_app(rate_limit_enabled=True, rate_limit_unauthenticated="3/minute")
    url = f"/orders/user/{ALICE}/"
    verified: list[str] = []
    verify = app.state.tokens.verify

    def counting_verify(token: str) -> int:
        verified.append(token)
        return int(verify(token))

    app.state.tokens.verify = counting_verify
    flood = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("10.0.0.1", 4000)), base_url="http://t"
    )
    neighbour = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("10.0.0.2", 4000)), base_url="http://t"
    )
    async with flood, neighbour:
        # valid calls do not use the budget
        for _ in range(3):
            assert (await flood.get(url, headers=auth(ALICE))).status_code == 200
        garbage = {"Authorization": "Bearer not-a-token"}
        codes = [(await flood.get(url, headers=garbage)).status_code for _ in range(2)]
        codes.append((await flood.get(url)).status_code)  # no token at all counts too
        assert codes == [401, 401, 401]
        checked = len(verified)

        limited = await flood.get(url, headers=garbage)
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["retry-after"]) <= 61
        # refused before the token is looked at, valid or not, for this address only
        assert (await flood.get(url, headers=auth(ALICE))).status_code == 429
        assert len(verified) == checked
        assert (await neighbour.get(url, headers=auth(ALICE))).status_code == 200


async def test_the_limit_can_be_switched_off(make_app: MakeApp, auth: Auth) -> None:
    app = await make_app(rate_limit_enabled=False, rate_limit="2/minute")
    async with client_for(app) as client:
        for _ in range(5):
            response = await client.get(f"/orders/user/{ALICE}/", headers=auth(ALICE))
            assert response.status_code == 200


async def test_two_replicas_admit_exactly_the_limit_of_a_concurrent_burst(
    make_app: MakeApp, auth: Auth, redis: Redis
) -> None:
    """Two app instances sharing the Redis counters, 80 concurrent calls of one user, split
    between them: 30 answered, 50 refused, whatever the interleaving; the calls of one instance
    that arrive together are counted in one pipelined round trip."""
    replicas = [await make_app(rate_limit_enabled=True, rate_limit="30/minute") for _ in range(2)]
    url = f"/orders/user/{ALICE}/"
    async with client_for(replicas[0]) as one, client_for(replicas[1]) as two:
        answers = await asyncio.gather(
            *((one if i % 2 else two).get(url, headers=auth(ALICE)) for i in range(80))
        )
    codes = [a.status_code for a in answers]
    assert codes.count(200) == 30
    assert codes.count(429) == 50
    round_trips = sum(app.state.limiter.shared.pipeline.batches for app in replicas)
    assert round_trips < 80  # pipelined: fewer round trips than calls
    (key,) = [k for k in await redis.keys("*ratelimit*") if b"user:501" in k]
    # counted once each at most (a call refused from memory after the first 429 is not sent)
    assert 30 < int(await redis.get(key) or 0) <= 80


async def test_a_cached_get_counts_its_limit_in_the_round_trip_of_its_cache_read(
    make_app: MakeApp, auth: Auth, redis: Redis
) -> None:
    """GET /orders/{id}/ sends the rate limit's count and the cache read to Redis together:
    one round trip for a hit, not two; over the limit, the cached order is not answered."""
    app = await make_app(rate_limit_enabled=True, rate_limit="4/minute")
    pipeline = app.state.limiter.shared.pipeline
    alice = auth(ALICE)  # one token: verified once, then known (no per-IP check)
    async with client_for(app) as client:
        order = await create_order(client, alice)
        url = f"/orders/{order['id']}/"
        assert (await client.get(url, headers=alice)).status_code == 200  # fills the cache
        assert await redis.exists(f"orders:order:{order['id']}")

        before = pipeline.batches
        hit = await client.get(url, headers=alice)
        assert hit.status_code == 200
        assert hit.json() == order
        assert pipeline.batches - before == 1

        assert (await client.get(url, headers=alice)).status_code == 200  # 4th of 4
        limited = await client.get(url, headers=alice)
        assert limited.status_code == 429
        assert limited.json()["detail"].startswith("rate limit exceeded")
        # a malformed id is counted (and refused) too, before its 422
        assert (await client.get("/orders/not-a-uuid/", headers=alice)).status_code == 429


async def test_the_count_goes_on_after_redis_forgets_its_scripts(
    make_app: MakeApp, auth: Auth, redis: Redis
) -> None:
    """A count is one script call; a Redis that restarted or flushed its scripts answers
    NOSCRIPT, and the script is sent again: the shared count goes on, nothing falls back."""
    app = await make_app(rate_limit_enabled=True, rate_limit="3/minute")
    alice = auth(ALICE)
    url = f"/orders/user/{ALICE}/"
    async with client_for(app) as client:
        assert (await client.get(url, headers=alice)).status_code == 200
        await redis.script_flush()
        assert (await client.get(url, headers=alice)).status_code == 200
        assert (await client.get(url, headers=alice)).status_code == 200
        assert (await client.get(url, headers=alice)).status_code == 429
    (key,) = [k for k in await redis.keys("*ratelimit*") if b"user:501" in k]
    # every call counted in Redis, the refused one too (in memory, Redis would not hold them)
    assert int(await redis.get(key) or 0) == 4
