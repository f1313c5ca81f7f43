"""Latency, one request at a time, alternating between the instances compared:

1. GET /orders/{id}/ (rate limit off) with the cache on and off; then, on a redis-server of the
   bench's own, with that Redis frozen (SIGSTOP: it accepts connections and never answers) and
   stopped, each side by side with the cache switched off.
2. POST /token/ for an unknown email and for a wrong password: the two medians must agree, or
   the answer's delay tells which emails have accounts (the ratio is reported).
"""

from __future__ import annotations

import os
import signal
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import instances
from context import Bench
from report import Figure


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        "n": len(ordered),
        "p50_ms": round(pick(0.50) * 1000, 2),
        "p95_ms": round(pick(0.95) * 1000, 2),
        "p99_ms": round(pick(0.99) * 1000, 2),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 2),
    }


def timed(call: Callable[[], httpx.Response], status: int) -> float:
    started = time.perf_counter()
    answer = call()
    elapsed = time.perf_counter() - started
    assert answer.status_code == status, answer.text
    return elapsed


def side_by_side(
    calls: dict[str, Callable[[], float]], n: int, warm: int = 20
) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for i in range(warm + n):
        for name, call in calls.items():
            elapsed = call()
            if i >= warm:
                samples[name].append(elapsed)
    return samples


def gets(b: Bench, n: int) -> tuple[list[Figure], dict[str, Any]]:
    off = "false"
    with (
        instances.redis_server("redis-latency") as redis,
        instances.orders(
            "orders-cached",
            **b.orders_env(ORDERS_RATE_LIMIT_ENABLED=off, ORDERS_REDIS_URL=redis.db(0)),
        ) as cached,
        instances.orders(
            "orders-uncached",
            **b.orders_env(ORDERS_RATE_LIMIT_ENABLED=off, ORDERS_CACHE_ENABLED=off),
        ) as uncached,
        httpx.Client(timeout=10, headers={"Authorization": b.user.authorization}) as client,
    ):
        path = f"/orders/{b.create_order(cached.url)}/"

        def get(url: str) -> Callable[[], float]:
            return lambda: timed(lambda: client.get(url + path), 200)

        on, no_cache = get(cached.url), get(uncached.url)
        samples = side_by_side({"cached": on, "uncached": no_cache}, n)
        os.kill(redis.proc.pid, signal.SIGSTOP)
        try:
            frozen = side_by_side({"redis_frozen": on, "uncached_while_frozen": no_cache}, n)
        finally:
            os.kill(redis.proc.pid, signal.SIGCONT)
        instances.stop(redis.proc)
        down = side_by_side({"redis_down": on, "uncached_while_down": no_cache}, n)
    result = {mode: percentiles(s) for mode, s in {**samples, **frozen, **down}.items()}

    def p50(mode: str) -> float:
        return result[mode]["p50_ms"]

    figures = [
        Figure("GET p50, cache on", p50("cached"), "ms", "cache off", p50("uncached")),
        Figure(
            "GET p50, bench Redis frozen",
            p50("redis_frozen"),
            "ms",
            "cache off",
            p50("uncached_while_frozen"),
            "<= 1.2",
        ),
        Figure(
            "GET p50, bench Redis stopped",
            p50("redis_down"),
            "ms",
            "cache off",
            p50("uncached_while_down"),
        ),
    ]
    return figures, {"get_order": result}


def login_timing(b: Bench, n: int) -> tuple[list[Figure], dict[str, Any]]:
    """At the stack's bcrypt cost, on the bench's auth-service instance (rate limit off)."""
    with httpx.Client(timeout=10) as client:

        def token(username: str) -> Callable[[], float]:
            form = {"username": username, "password": "wrong-pass"}
            return lambda: timed(lambda: client.post(f"{b.auth.url}/token/", data=form), 401)

        samples = side_by_side(
            {
                "unknown_email": token(f"nobody-{uuid.uuid4().hex[:8]}@example.com"),
                "wrong_password": token(b.user.email),
            },
            n,
            warm=5,
        )
    result = {kind: percentiles(s) for kind, s in samples.items()}
    figure = Figure(
        "POST /token/ 401 p50, unknown email",
        result["unknown_email"]["p50_ms"],
        "ms",
        "wrong password",
        result["wrong_password"]["p50_ms"],
    )
    return [figure], {"login_timing": result}
