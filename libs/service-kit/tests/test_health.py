"""/health/ready names what fails; optional dependencies only degrade it."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
import pytest
from fastapi import FastAPI

from service_kit.db import make_engine
from service_kit.health import Check, database_check, health_router, redis_check


async def _ok() -> None:
    return None


async def _down() -> None:
    raise ConnectionRefusedError


def _client(
    checks: Mapping[str, Check], optional: frozenset[str] = frozenset()
) -> httpx.AsyncClient:
    app = FastAPI()
    app.include_router(health_router(checks, optional, timeout_seconds=0.5))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_live_answers_whatever_the_dependencies() -> None:
    async with _client({"postgres": _down}) as client:
        response = await client.get("/health/live")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


@pytest.mark.parametrize(
    ("redis", "status", "body"),
    [
        (_ok, 200, {"status": "ok", "failing": [], "degraded": []}),
        (_down, 200, {"status": "degraded", "failing": [], "degraded": ["redis"]}),
    ],
    ids=["all-up", "optional-down"],
)
async def test_an_optional_dependency_down_degrades_but_keeps_ready(
    redis: Check, status: int, body: dict[str, object]
) -> None:
    async with _client({"postgres": _ok, "redis": redis}, frozenset({"redis"})) as client:
        response = await client.get("/health/ready")
    assert response.status_code == status
    assert {k: response.json()[k] for k in body} == body


async def test_a_required_dependency_down_is_a_503_naming_it() -> None:
    async with _client({"postgres": _down, "redis": _ok}) as client:
        response = await client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["failing"] == ["postgres"]
    assert response.json()["checks"]["postgres"] == "error: ConnectionRefusedError"


async def test_redis_check_pings() -> None:
    class Pinged:
        calls = 0

        async def ping(self) -> bool:
            Pinged.calls += 1
            return True

    await redis_check(Pinged())()  # type: ignore[arg-type]
    assert Pinged.calls == 1


async def test_database_check_fails_on_an_unreachable_database() -> None:
    engine = make_engine("postgresql+asyncpg://u:p@127.0.0.1:1/x", connect_timeout=0.5)
    try:
        async with _client({"postgres": database_check(engine)}) as client:
            response = await client.get("/health/ready")
    finally:
        await engine.dispose()
    assert response.status_code == 503
    assert response.json()["failing"] == ["postgres"]
