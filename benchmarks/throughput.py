"""Throughput: wrk against the bench's instances and their ceilings, pinned (servers on core 0,
wrk on core 1), each pair alternated round by round; every figure a ratio of medians.

- GET /orders/{id}/ (cached, a pool of the user's orders in turn): limiter on (a limit never
  reached) against the GET ceiling and the bare endpoint, limiter off, and through an nginx of
  the bench's own with the stack's gateway routes (nginx on wrk's core: the gateway's hop, not a
  share of the server's core);
- 429s for a user over its limit against the bare endpoint;
- POST /orders/ against the POST ceiling and pgbench running the same two INSERTs: limiter on,
  and limiter off (the ceiling has no limiter: like against like);
- POST /token/ against bcrypt's ceiling: the server's cores (1: it is pinned) / one check's time.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import instances
import psycopg
from context import ORDER_BODY, PASSWORD, Bench
from databases import libpq
from instances import BENCH_DIR, CLIENT_CORE, SERVER_CORE, pinned
from report import Figure
from wrk import Load, Series, alternate, wrk

# Cached GETs go round this many of the bench user's orders (wrk's Lua script takes them in
# turn); every run of the part ends well within their cache TTL (5 minutes).
ORDER_POOL = 50


def rps(name: str, value: float, reference: str, of: float, target: str = "") -> Figure:
    return Figure(name, value, "req/s", reference, of, target)


def settle() -> None:
    """A breath between runs: sockets in TIME_WAIT, the previous server's queued work."""
    time.sleep(1)


def warm_up(urls: list[str], load: Load) -> None:
    for url in urls:
        wrk(url, Load(**{**load.__dict__, "seconds": 2}))


def gets(b: Bench, rounds: int, seconds: float) -> tuple[list[Figure], dict[str, Any]]:
    tokens, cache = b.tokens_json(), b.redis.db(0)
    with (
        instances.orders("orders-limiter-on", **b.orders_env()) as on,
        instances.orders(
            "orders-limiter-off", **b.orders_env(ORDERS_RATE_LIMIT_ENABLED="false")
        ) as off,
        instances.orders("orders-over-limit", **b.orders_env(ORDERS_RATE_LIMIT="1/hour")) as over,
        instances.ceiling(
            "get-ceiling", "get_ceiling", BENCH_TOKENS=tokens, BENCH_REDIS_URL=cache
        ) as ceiling,
        instances.ceiling("bare", "bare") as bare,
        instances.gateway(on.url, b.auth.url, core=CLIENT_CORE) as gateway,
    ):
        paths = tuple(f"/orders/{b.create_order(on.url)}/" for _ in range(ORDER_POOL))
        path = paths[0]
        load = Load(authorization=b.user.authorization, seconds=seconds, paths=paths)
        over_load = Load(authorization=b.limited_user.authorization, seconds=seconds)
        urls = {
            "limiter_on": on.url,
            "ceiling": ceiling.url,
            "bare": bare.url,
            "limiter_off": off.url,
            "gateway": gateway.url,
        }
        for cached in paths:  # every order in the cache (filled by its first read)
            expect(on.url + cached, b.user.authorization, 200)
        for url in urls.values():  # the token keys, the connections
            expect(url + path, b.user.authorization, 200)
        httpx.get(over.url + path, headers={"Authorization": b.limited_user.authorization})
        expect(over.url + path, b.limited_user.authorization, 429)
        sides = {name: partial(wrk, url + path, load) for name, url in urls.items()}
        sides["over_limit_429"] = partial(wrk, over.url + path, over_load)
        warm_up([url + path for url in urls.values()], load)
        series = alternate(sides, rounds, settle)
        expect(over.url + path, b.limited_user.authorization, 429)
    m = {name: s.median for name, s in series.items()}
    figures = [
        rps("GET cached, limiter on", m["limiter_on"], "GET ceiling", m["ceiling"], ">= 0.8"),
        rps("GET cached, limiter on", m["limiter_on"], "bare endpoint", m["bare"]),
        rps("GET via gateway", m["gateway"], "direct, limiter on", m["limiter_on"], ">= 0.8"),
        rps("GET limiter on", m["limiter_on"], "limiter off", m["limiter_off"], ">= 0.9"),
        rps("429 over the limit", m["over_limit_429"], "bare endpoint", m["bare"], ">= 0.3"),
    ]
    return figures, {"get": summaries(series, expected_non_2xx={"over_limit_429"})}


def expect(url: str, authorization: str, status: int) -> None:
    deadline = time.monotonic() + 20
    while True:
        answer = httpx.get(url, headers={"Authorization": authorization}, timeout=5)
        if answer.status_code == status:
            return
        if time.monotonic() > deadline:  # e.g. the JWKS not loaded yet
            raise RuntimeError(f"GET {url}: {answer.status_code} {answer.text[:200]}")
        time.sleep(0.3)


def summaries(series: dict[str, Series], expected_non_2xx: set[str]) -> dict[str, Any]:
    """The runs, with a check that each answered what it should: no failures where 2xx was
    expected, nothing but refusals where a 429 was."""
    out: dict[str, Any] = {}
    for name, s in series.items():
        bad = [
            r
            for r in s.runs
            if (r["non_2xx"] != r["requests"] if name in expected_non_2xx else r["non_2xx"] > 0)
        ]
        out[name] = {**s.summary(), "unexpected_answers_in_runs": len(bad)}
    return out


PGBENCH_SCRIPT = """BEGIN;
INSERT INTO orders (id, user_id, items, total_price, status, created_at, updated_at)
  VALUES (gen_random_uuid(), :user_id, :items, 9.00, 'PENDING', now(), now())
  RETURNING id::text AS order_id \\gset
INSERT INTO outbox (event_id, topic, key, payload, headers)
  VALUES (gen_random_uuid(), 'new_order', :order_id, :payload, :headers);
END;
"""


def fresh_tables(b: Bench) -> None:
    b.truncate_orders()
    settle()


def pgbench(db_url: str, script: Path, variables: dict[str, str], seconds: float) -> dict[str, Any]:
    """pgbench with the two INSERTs of POST /orders/ in one transaction, 16 clients, one thread
    on the client's core. The row contents (an order's items, its event) are the app's own."""
    command = [
        "pgbench",
        "-n",
        "-M",
        "prepared",
        "-f",
        str(script),
        "-c",
        "16",
        "-j",
        "1",
        "-T",
        str(int(seconds)),
    ]
    for name, value in variables.items():
        command += ["-D", f"{name}={value}"]
    out = subprocess.run(
        pinned(CLIENT_CORE, [*command, libpq(db_url)]), capture_output=True, text=True, check=True
    ).stdout
    tps = next(line for line in out.splitlines() if line.startswith("tps = "))
    failed = [line for line in out.splitlines() if "failed" in line]
    return {"rps": float(tps.split()[2]), "requests": 0, "non_2xx": 0, "detail": failed}


def posts(b: Bench, rounds: int, seconds: float) -> tuple[list[Figure], dict[str, Any]]:
    with (
        instances.orders("orders-post", **b.orders_env()) as app,
        instances.orders(
            "orders-post-limiter-off", **b.orders_env(ORDERS_RATE_LIMIT_ENABLED="false")
        ) as app_off,
        instances.ceiling(
            "post-ceiling",
            "post_ceiling",
            BENCH_TOKENS=b.tokens_json(),
            BENCH_DATABASE_URL=b.orders_db,
        ) as ceiling,
    ):
        b.create_order(app.url)
        with psycopg.connect(libpq(b.orders_db)) as db:
            items, payload, headers = db.execute(
                "SELECT o.items::text, x.payload::text, x.headers::text FROM orders o"
                " JOIN outbox x ON x.key = o.id::text ORDER BY o.created_at DESC LIMIT 1"
            ).fetchone() or ("[]", "{}", "{}")
        script = Path(tempfile.mkdtemp(dir=instances.WORK)) / "post.sql"
        script.write_text(PGBENCH_SCRIPT)
        variables = {
            "user_id": str(b.user.id),
            "items": items,
            "payload": payload,
            "headers": headers,
        }
        load = Load(
            connections=16,
            seconds=seconds,
            method="POST",
            body=ORDER_BODY,
            authorization=b.user.authorization,
        )
        sides = {
            "app": partial(wrk, f"{app.url}/orders/", load),
            "app_limiter_off": partial(wrk, f"{app_off.url}/orders/", load),
            "ceiling": partial(wrk, f"{ceiling.url}/orders/", load),
            "pgbench": partial(pgbench, b.orders_db, script, variables, seconds),
        }
        warm_up([f"{u}/orders/" for u in (app.url, app_off.url, ceiling.url)], load)
        # every run starts from empty tables: the same index sizes for each
        series = alternate(sides, rounds, partial(fresh_tables, b))
        b.truncate_orders()
    med = {name: s.median for name, s in series.items()}
    figures = [
        rps("POST /orders/", med["app"], "POST ceiling", med["ceiling"], ">= 0.8"),
        rps("POST /orders/", med["app"], "pgbench, same INSERTs", med["pgbench"]),
        rps(
            "POST /orders/, limiter off",
            med["app_limiter_off"],
            "POST ceiling",
            med["ceiling"],
            ">= 0.8",
        ),
        rps("POST /orders/, limiter on", med["app"], "limiter off", med["app_limiter_off"]),
    ]
    return figures, {"post": summaries(series, expected_non_2xx=set())}


def bcrypt_check_seconds(rounds: str, checks: int) -> float:
    """The median time of one bcrypt check at the service's cost, on the server's core."""
    out = subprocess.run(
        pinned(
            SERVER_CORE, [sys.executable, str(BENCH_DIR / "hash_timer.py"), rounds, str(checks)]
        ),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(statistics.median(json.loads(out)))


def tokens(
    b: Bench, rounds: int, seconds: float, bcrypt_rounds: str
) -> tuple[list[Figure], dict[str, Any]]:
    body = urlencode({"username": b.user.email, "password": PASSWORD})
    load = Load(
        connections=4,
        seconds=max(seconds, 10),
        method="POST",
        body=body,
        content_type="application/x-www-form-urlencoded",
    )
    url = f"{b.auth.url}/token/"
    checks: list[float] = []

    def one_hash() -> dict[str, Any]:
        checks.append(bcrypt_check_seconds(bcrypt_rounds, 8))
        return {"rps": round(1 / checks[-1], 2), "requests": 8, "non_2xx": 0}

    series = alternate({"token": partial(wrk, url, load), "bcrypt": one_hash}, rounds, settle)
    hash_seconds = statistics.median(checks)
    ceiling = f"bcrypt ceiling (1 core / {hash_seconds * 1000:.0f} ms)"
    figure = rps(
        "POST /token/", series["token"].median, ceiling, round(1 / hash_seconds, 2), ">= 0.8"
    )
    detail = {
        "token": summaries({"token": series["token"]}, set())["token"],
        "bcrypt_check_seconds": checks,
        "bcrypt_rounds": int(bcrypt_rounds),
        "auth_instance": urlsplit(b.auth.url).netloc,
    }
    return [figure], {"token": detail}
