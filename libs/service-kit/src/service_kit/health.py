"""`/health/live` and `/health/ready`: ready names every failing dependency.

Readiness checks of the dependencies several services share (PostgreSQL, Redis) live here too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

import structlog
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from service_kit.db import ping

log = structlog.get_logger(__name__)

Check = Callable[[], Awaitable[object]]


def database_check(engine: AsyncEngine) -> Check:
    """A readiness check that runs a query on one of `engine`'s connections."""

    async def check() -> object:
        await ping(engine)
        return None

    return check


def redis_check(redis: Redis) -> Check:
    """A readiness check that pings Redis."""

    async def check() -> object:
        return await redis.ping()

    return check


def health_router(
    checks: Mapping[str, Check],
    optional: frozenset[str] = frozenset(),
    timeout_seconds: float = 2.0,
) -> APIRouter:
    """Checks in `optional` are reported as degraded but do not make the service unready."""
    router = APIRouter(prefix="/health", tags=["health"])

    @router.get("/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/ready", responses={503: {"description": "a required dependency is down"}})
    async def ready() -> JSONResponse:
        names = list(checks)
        results = await asyncio.gather(
            *(_run(checks[name], timeout_seconds) for name in names), return_exceptions=False
        )
        report = dict(zip(names, results, strict=True))
        failing = [n for n, r in report.items() if r != "ok" and n not in optional]
        degraded = [n for n, r in report.items() if r != "ok" and n in optional]
        status = "unavailable" if failing else ("degraded" if degraded else "ok")
        body = {"status": status, "checks": report, "failing": failing, "degraded": degraded}
        return JSONResponse(body, status_code=503 if failing else 200)

    return router


async def _run(check: Check, timeout_seconds: float) -> str:
    try:
        await asyncio.wait_for(check(), timeout_seconds)
    except Exception as exc:
        return f"error: {type(exc).__name__}"
    return "ok"
