"""What every part of the bench shares: the bench's own Redis, an auth-service instance on
`auth_bench` that mints the tokens, the scratch databases, and two users (one for the requests,
one to be held over its rate limit)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import instances
import psycopg
from databases import bench_database, libpq
from instances import Redis, Server

ITEMS = [{"product_id": "sku-bench", "name": "Bench", "quantity": 2, "price": "4.50"}]
ORDER_BODY = json.dumps({"items": ITEMS})
# high enough never to refuse during a run, low enough to be a real limit (counted in Redis)
UNREACHED_LIMIT = "1000000000/minute"
PASSWORD = "bench-password-1"  # noqa: S105 (a bench user's, in a scratch database)


@dataclass(frozen=True)
class User:
    id: int
    email: str
    token: str

    @property
    def authorization(self) -> str:
        return f"Bearer {self.token}"


@dataclass
class Bench:
    redis: Redis
    auth: Server
    orders_db: str
    processor_db: str
    user: User
    limited_user: User

    def orders_env(self, **overrides: str) -> dict[str, str]:
        """An orders-service instance's settings: the bench's databases, Redis and JWKS; the
        rate limit on (and never reached) unless overridden."""
        return {
            "ORDERS_DATABASE_URL": self.orders_db,
            "ORDERS_REDIS_URL": self.redis.db(0),
            "ORDERS_JWKS_URL": f"{self.auth.url}/.well-known/jwks.json",
            "ORDERS_RATE_LIMIT_ENABLED": "true",
            "ORDERS_RATE_LIMIT": UNREACHED_LIMIT,
            **overrides,
        }

    def tokens_json(self) -> str:
        return json.dumps({u.token: u.id for u in (self.user, self.limited_user)})

    def create_order(self, orders_url: str) -> str:
        answer = httpx.post(
            f"{orders_url}/orders/",
            content=ORDER_BODY,
            headers={"Authorization": self.user.authorization, "Content-Type": "application/json"},
            timeout=10,
        )
        answer.raise_for_status()
        return str(answer.json()["id"])

    def truncate_orders(self) -> None:
        with psycopg.connect(libpq(self.orders_db)) as db:
            db.execute("TRUNCATE orders, outbox, idempotency_keys")


def register(auth_url: str) -> User:
    email = f"bench-{uuid.uuid4().hex[:10]}@example.com"
    user = httpx.post(f"{auth_url}/register/", json={"email": email, "password": PASSWORD})
    user.raise_for_status()
    token = httpx.post(f"{auth_url}/token/", data={"username": email, "password": PASSWORD})
    token.raise_for_status()
    return User(int(user.json()["id"]), email, str(token.json()["access_token"]))


@contextmanager
def bench() -> Iterator[Bench]:
    orders_db = bench_database("ORDERS", "orders-service")
    processor_db = bench_database("PROCESSOR", "order-processor")
    auth_db = bench_database("AUTH", "auth-service")
    with (
        instances.redis_server() as redis,
        instances.auth(
            "auth",
            AUTH_DATABASE_URL=auth_db,
            AUTH_REDIS_URL=redis.db(0),
            AUTH_ACCESS_TOKEN_MINUTES="600",  # noqa: S106 (minutes: tokens outlive the longest run)
        ) as auth,
    ):
        yield Bench(redis, auth, orders_db, processor_db, register(auth.url), register(auth.url))
