"""Rate limits on the real Redis (db 2), shared by replicas, and their fall-back when it stops."""

import pytest
from httpx import AsyncClient, Response
from redis.asyncio import Redis

import stack_control
from tests.support import (
    EMAIL,
    PASSWORD,
    TEST_REDIS_URL,
    AppFactory,
    ClientFactory,
    access_token,
    login,
    register,
)


def assert_rate_limited(response: Response, window_seconds: int = 60) -> None:
    assert response.status_code == 429, response.text
    assert 1 <= int(response.headers["retry-after"]) <= window_seconds + 1
    assert "rate limit exceeded" in response.json()["detail"]


async def register_n(client: AsyncClient, n: int, prefix: str = "user") -> list[int]:
    statuses = []
    for i in range(n):
        body = {"email": f"{prefix}{i}@example.com", "password": PASSWORD}
        statuses.append((await client.post("/register/", json=body)).status_code)
    return statuses


async def test_register_is_limited_per_ip(make_app: AppFactory, make_client: ClientFactory) -> None:
    app = make_app(rate_limit_register="3/minute")
    client = make_client(app, client_ip="10.0.0.1")

    assert await register_n(client, 3) == [201, 201, 201]
    blocked = await client.post("/register/", json={"email": "x@example.com", "password": PASSWORD})

    assert_rate_limited(blocked)
    other_ip = make_client(app, client_ip="10.0.0.2")
    assert await register_n(other_ip, 1, prefix="other") == [201]


async def test_token_is_limited_per_ip_and_username(
    make_app: AppFactory, make_client: ClientFactory
) -> None:
    app = make_app(rate_limit_token="2/minute")
    client = make_client(app, client_ip="10.0.0.1")
    await register(client)
    await register(client, "bob@example.com")

    assert (await login(client, password="wrong password")).status_code == 401
    assert (await login(client, EMAIL.upper(), "wrong password")).status_code == 401
    blocked = await login(client)  # even the right password waits now

    assert_rate_limited(blocked)
    # another username from the same address, the same username from another address: own budgets
    assert (await login(client, "bob@example.com")).status_code == 200
    assert (await login(make_client(app, client_ip="10.0.0.2"))).status_code == 200


async def test_token_is_limited_per_ip_whatever_the_username_before_any_hashing(
    make_app: AppFactory, make_client: ClientFactory
) -> None:
    """Password spraying: one address rotating usernames runs out of attempts, and the refused
    attempts cost no bcrypt work."""
    app = make_app(rate_limit_token="5/minute", rate_limit_token_per_ip="3/minute")
    hashed: list[str] = []
    verify = app.state.hasher.verify

    async def counting_verify(password: str, password_hash: str | None) -> bool:
        hashed.append(password)
        return bool(await verify(password, password_hash))

    app.state.hasher.verify = counting_verify
    client = make_client(app, client_ip="10.0.0.1")
    codes = [(await login(client, f"user{i}@example.com")).status_code for i in range(3)]
    assert codes == [401, 401, 401]
    assert len(hashed) == 3

    blocked = await login(client, "user9@example.com")

    assert_rate_limited(blocked)
    assert len(hashed) == 3  # refused before the password was hashed
    assert (
        await login(make_client(app, client_ip="10.0.0.2"), "user9@example.com")
    ).status_code == 401


async def test_replicas_share_one_budget_in_redis(
    redis_up: None, make_app: AppFactory, make_client: ClientFactory
) -> None:
    replica_a = make_client(make_app(rate_limit_register="2/minute"))
    replica_b = make_client(make_app(rate_limit_register="2/minute"))

    assert await register_n(replica_a, 2, prefix="a") == [201, 201]
    blocked = await replica_b.post(
        "/register/", json={"email": "b@example.com", "password": PASSWORD}
    )

    assert_rate_limited(blocked)
    redis = Redis.from_url(TEST_REDIS_URL)
    try:
        assert await redis.keys("*ratelimit*")  # the counters live in Redis
    finally:
        await redis.aclose()


async def test_trusted_proxy_forwards_the_client_address(
    make_app: AppFactory, make_client: ClientFactory
) -> None:
    app = make_app(rate_limit_register="1/minute", trusted_proxies=["10.9.0.0/24"])
    gateway = make_client(app, client_ip="10.9.0.5")
    stranger = make_client(app, client_ip="10.0.0.7")

    def as_client(ip: str) -> dict[str, str]:
        return {"X-Forwarded-For": ip}

    first = {"email": "a@example.com", "password": PASSWORD}
    second = {"email": "b@example.com", "password": PASSWORD}
    assert (
        await gateway.post("/register/", json=first, headers=as_client("1.1.1.1"))
    ).status_code == 201
    assert (
        await gateway.post("/register/", json=second, headers=as_client("2.2.2.2"))
    ).status_code == 201
    assert_rate_limited(await gateway.post("/register/", json=second, headers=as_client("1.1.1.1")))

    # an untrusted peer cannot pick its address with the header
    third = {"email": "c@example.com", "password": PASSWORD}
    assert (
        await stranger.post("/register/", json=third, headers=as_client("3.3.3.3"))
    ).status_code == 201
    assert_rate_limited(await stranger.post("/register/", json=first, headers=as_client("4.4.4.4")))


async def test_rate_limiting_can_be_switched_off(
    make_app: AppFactory, make_client: ClientFactory
) -> None:
    client = make_client(make_app(rate_limit_register="1/minute", rate_limit_enabled=False))

    assert await register_n(client, 3) == [201, 201, 201]


@pytest.mark.timeout(120)
async def test_redis_down_falls_back_to_memory_and_the_api_stays_up(
    make_app: AppFactory, make_client: ClientFactory
) -> None:
    app = make_app(rate_limit_register="3/minute")
    client = make_client(app)

    with stack_control.stopped("redis"):
        statuses = await register_n(client, 2)
        token = await access_token(client, "user0@example.com", PASSWORD)
        me = await client.get("/users/me/", headers={"Authorization": f"Bearer {token}"})
        ready = await client.get("/health/ready")
        third = await client.post(
            "/register/", json={"email": "c@example.com", "password": PASSWORD}
        )
        blocked = await client.post(
            "/register/", json={"email": "d@example.com", "password": PASSWORD}
        )

    assert statuses == [201, 201]
    assert me.status_code == 200
    assert ready.status_code == 200
    assert ready.json()["degraded"] == ["redis"]
    assert third.status_code == 201
    assert_rate_limited(blocked)  # per-process memory still limits
