"""`/health/live` and `/health/ready`: ready names every failing dependency."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

import structlog
from fastapi import APIRouter
from fastapi.responses import JSONResponse

log = structlog.get_logger(__name__)

Check = Callable[[], Awaitable[object]]


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
