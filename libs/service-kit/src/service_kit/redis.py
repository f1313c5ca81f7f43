"""A Redis client that fails fast: short socket timeouts and one retry without back-off
(redis-py would otherwise retry several times with back-off on every call)."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff


def make_redis(url: str, timeout_seconds: float = 0.1) -> Redis:
    return Redis.from_url(
        url,
        socket_timeout=timeout_seconds,
        socket_connect_timeout=timeout_seconds,
        retry=Retry(NoBackoff(), retries=1),
    )
