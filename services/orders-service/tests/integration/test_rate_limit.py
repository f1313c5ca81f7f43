"""The per-user rate limit on /orders calls (counters in Redis db 3 in tests)."""

from __future__ import annotations

import uuid

from redis.asyncio import Redis

from tests.integration.conftest import Auth, MakeApp, client_for

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


async def test_the_limit_can_be_switched_off(make_app: MakeApp, auth: Auth) -> None:
    app = await make_app(rate_limit_enabled=False, rate_limit="2/minute")
    async with client_for(app) as client:
        for _ in range(5):
            response = await client.get(f"/orders/user/{ALICE}/", headers=auth(ALICE))
            assert response.status_code == 200
