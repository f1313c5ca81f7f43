"""Rate limiting shared across replicas (slowapi, counters in Redis).

If Redis is unreachable the limiter falls back to per-process memory (slowapi's own fallback,
logged once when it switches) and keeps checking Redis with back-off, so the API stays up.
The client address is the socket peer, unless the peer is a trusted proxy (the gateway),
whose `X-Forwarded-For` is then believed.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Sequence

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from slowapi import Limiter
from slowapi.errors import RateLimitExceeded

log = structlog.get_logger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(cidrs: Sequence[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs if c.strip())


def client_ip(request: Request, trusted: Sequence[Network]) -> str:
    """The client's address: the first hop, walking X-Forwarded-For back through trusted proxies."""
    peer = request.client.host if request.client else "unknown"
    if not trusted or not _is_trusted(peer, trusted):
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted):
            return hop
    return hops[0] if hops else peer


def _is_trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in trusted)


def make_limiter(
    redis_url: str, key_func: Callable[[Request], str], enabled: bool = True
) -> Limiter:
    return Limiter(
        key_func=key_func,
        storage_uri=redis_url,
        # slowapi types these as str, but hands them to redis-py, which needs numbers
        storage_options={"socket_timeout": 0.1, "socket_connect_timeout": 0.1},  # type: ignore[dict-item]
        in_memory_fallback_enabled=True,
        strategy="fixed-window",
        key_prefix="ratelimit",
        enabled=enabled,
        headers_enabled=False,
        swallow_errors=True,
    )


def install_rate_limiting(app: FastAPI, limiter: Limiter) -> None:
    """429 with a JSON body and `Retry-After` (seconds until the window resets)."""
    app.state.limiter = limiter

    async def on_rate_limited(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RateLimitExceeded)
        retry_after = 60
        current = getattr(request.state, "view_rate_limit", None)
        if current is not None:
            try:
                reset_at, _ = limiter.limiter.get_window_stats(current[0], *current[1])
                retry_after = max(1, int(reset_at - time.time()) + 1)
            except Exception:  # storage gone mid-request: the window length is a safe answer
                retry_after = int(current[0].get_expiry())
        log.info("ratelimit.exceeded", path=request.url.path, limit=str(exc.detail))
        return JSONResponse(
            {"detail": f"rate limit exceeded: {exc.detail}"},
            status_code=429,
            headers={"Retry-After": str(retry_after)},
        )

    app.add_exception_handler(RateLimitExceeded, on_rate_limited)
