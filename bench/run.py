"""`make bench`: latency figures measured side by side in one run, on this machine only.

1. GET /orders/{id}/ on three orders-service instances the bench starts itself (rate limit
   off): cache on, cache off, and cache on while the stack's real Redis is stopped. The
   requests alternate between instances so that drift hits every mode alike.
2. POST /token/ for an unknown email and for a wrong password, alternating, on an auth-service
   instance of its own (rate limit off): the two medians must agree (the ratio is printed).
3. The event pipeline at a steady rate (default 50 orders/s for 20 s) through the cached
   instance: from each 201 to the outbox row's `published_at` (set in the transaction that
   follows the Kafka delivery report) and to the task's `started_at` in `processed_orders`.

Needs the native stack up (`make dev-up`). Prints a table and writes artifacts/bench.json.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg

from stack_control import stopped

ROOT = Path(__file__).resolve().parents[1]

ITEMS = [{"product_id": "sku-bench", "name": "Bench", "quantity": 2, "price": "4.50"}]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def orders_instance(**env: str) -> Iterator[str]:
    with service_instance("orders-service", "orders_service.main:app", "ORDERS", env) as url:
        yield url


@contextmanager
def service_instance(folder: str, app: str, prefix: str, env: dict[str, str]) -> Iterator[str]:
    """A service's API of its own, on a free port, rate limit off."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", app, "--port", str(port),
         "--host", "127.0.0.1", "--no-access-log", "--no-proxy-headers", "--log-level", "warning"],
        cwd=ROOT / "services" / folder,
        env={**os.environ, f"{prefix}_RATE_LIMIT_ENABLED": "false",
             f"{prefix}_LOG_LEVEL": "WARNING", **env},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(15)


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


def login(auth_url: str) -> tuple[int, dict[str, str]]:
    email, password = f"bench-{uuid.uuid4().hex[:10]}@example.com", uuid.uuid4().hex
    user = httpx.post(f"{auth_url}/register/", json={"email": email, "password": password})
    user.raise_for_status()
    token = httpx.post(f"{auth_url}/token/", data={"username": email, "password": password})
    token.raise_for_status()
    return user.json()["id"], {"Authorization": f"Bearer {token.json()['access_token']}"}


def timed_gets(client: httpx.Client, url: str, headers: dict[str, str]) -> float:
    started = time.perf_counter()
    response = client.get(url, headers=headers)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text
    return elapsed


def bench_gets(headers: dict[str, str], n: int) -> dict[str, dict[str, float]]:
    results: dict[str, list[float]] = {"cached": [], "uncached": [], "redis_down": []}
    with (
        orders_instance() as cached,
        orders_instance(ORDERS_CACHE_ENABLED="false") as uncached,
        httpx.Client(timeout=10) as client,
    ):
        order = client.post(f"{cached}/orders/", json={"items": ITEMS}, headers=headers).json()
        path = f"/orders/{order['id']}/"
        for _ in range(20):  # warm-up: connections, the cache entry, the token keys
            timed_gets(client, cached + path, headers)
            timed_gets(client, uncached + path, headers)
        for _ in range(n):
            results["cached"].append(timed_gets(client, cached + path, headers))
            results["uncached"].append(timed_gets(client, uncached + path, headers))
        with stopped("redis"):
            for _ in range(20):
                timed_gets(client, cached + path, headers)
            for _ in range(n):
                results["redis_down"].append(timed_gets(client, cached + path, headers))
    return {mode: percentiles(samples) for mode, samples in results.items()}


def bench_login_timing(n: int) -> dict[str, dict[str, float] | float]:
    """POST /token/ for an unknown email and for a wrong password, alternating, at the stack's
    bcrypt cost: the two must take the same time, or the answer's delay tells which emails
    have accounts."""
    samples: dict[str, list[float]] = {"unknown_email": [], "wrong_password": []}
    with (
        service_instance("auth-service", "auth_service.main:app", "AUTH", {}) as auth,
        httpx.Client(timeout=10) as client,
    ):
        email = f"bench-{uuid.uuid4().hex[:10]}@example.com"
        created = client.post(f"{auth}/register/", json={"email": email, "password": "right-pass"})
        created.raise_for_status()
        forms = {
            "unknown_email": {"username": f"nobody-{uuid.uuid4().hex[:8]}@example.com"},
            "wrong_password": {"username": email},
        }
        for i in range(n + 5):  # the first five warm up
            for kind, form in forms.items():
                started = time.perf_counter()
                answer = client.post(f"{auth}/token/", data={**form, "password": "wrong-pass"})
                elapsed = time.perf_counter() - started
                assert answer.status_code == 401, answer.text
                if i >= 5:
                    samples[kind].append(elapsed)
    result: dict[str, dict[str, float] | float] = {k: percentiles(v) for k, v in samples.items()}
    unknown = statistics.median(samples["unknown_email"])
    wrong = statistics.median(samples["wrong_password"])
    result["ratio_p50_unknown/wrong"] = round(unknown / wrong, 3)
    return result


def bench_pipeline(
    headers: dict[str, str], rate: float, seconds: float, orders_dsn: str, processor_dsn: str
) -> dict[str, object]:
    count = int(rate * seconds)
    created: dict[str, float] = {}
    with orders_instance() as url, httpx.Client(timeout=10) as client:

        def create(_: int) -> None:
            response = client.post(f"{url}/orders/", json={"items": ITEMS}, headers=headers)
            if response.status_code == 201:
                created[response.json()["id"]] = time.time()

        start = time.monotonic()
        with ThreadPoolExecutor(max_workers=16) as pool:
            for i in range(count):
                delay = start + i / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                pool.submit(create, i)
        sent_seconds = time.monotonic() - start
    ids = list(created)
    published: dict[str, float] = {}
    started: dict[str, float] = {}
    deadline = time.monotonic() + 300
    with psycopg.connect(orders_dsn) as odb, psycopg.connect(processor_dsn) as pdb:
        while time.monotonic() < deadline and (
            len(published) < len(ids) or len(started) < len(ids)
        ):
            for key, at in odb.execute(
                "SELECT key, extract(epoch FROM published_at) FROM outbox"
                " WHERE key = ANY(%s) AND published_at IS NOT NULL", (ids,)
            ):  # fmt: skip
                published[key] = float(at)
            for order_id, at in pdb.execute(
                "SELECT order_id::text, extract(epoch FROM started_at) FROM processed_orders"
                " WHERE order_id = ANY(%s::uuid[]) AND started_at IS NOT NULL", (ids,)
            ):  # fmt: skip
                started[order_id] = float(at)
            odb.commit()
            pdb.commit()
            time.sleep(1)
    return {
        "orders_requested": count,
        "orders_accepted": len(ids),
        "achieved_rate_per_s": round(count / sent_seconds, 1),
        "published": len(published),
        "task_started": len(started),
        "to_delivery_report": percentiles([published[i] - created[i] for i in published]),
        "to_task_start": percentiles([started[i] - created[i] for i in started]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--gets", type=int, default=300)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--logins", type=int, default=40)
    args = parser.parse_args()
    env = os.environ
    auth_url = f"http://127.0.0.1:{env.get('AUTH_PORT', '8001')}"
    _, headers = login(auth_url)
    gets = bench_gets(headers, args.gets)
    logins = bench_login_timing(args.logins)
    pipeline = bench_pipeline(
        headers,
        args.rate,
        args.seconds,
        env["ORDERS_DATABASE_URL"].replace("+asyncpg", ""),
        env["PROCESSOR_DATABASE_URL"].replace("+asyncpg", ""),
    )
    report = {
        "get_order": gets,
        "get_ratios_p50": {
            "uncached/cached": round(gets["uncached"]["p50_ms"] / gets["cached"]["p50_ms"], 2),
            "redis_down/uncached": round(
                gets["redis_down"]["p50_ms"] / gets["uncached"]["p50_ms"], 2
            ),
        },
        "login_timing": logins,
        "pipeline": pipeline,
    }
    out = ROOT / "artifacts" / "bench.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    lines = ["| GET /orders/{id}/ | p50 ms | p95 ms | p99 ms |", "|---|---|---|---|"]
    for mode, p in gets.items():
        lines.append(f"| {mode} | {p['p50_ms']} | {p['p95_ms']} | {p['p99_ms']} |")
    lines.append("")
    lines.append(f"ratios (p50): {report['get_ratios_p50']}")
    lines.append(f"login timing (POST /token/, 401): {json.dumps(logins)}")
    lines.append(f"pipeline: {json.dumps(pipeline)}")
    sys.stdout.write("\n".join(lines) + f"\nwritten {out}\n")


if __name__ == "__main__":
    main()
