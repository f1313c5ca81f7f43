"""How the tests reach the stack from outside: base URLs, users, SQL, from the stack's settings
(.env.example, then .env, then the environment; E2E_* variables point elsewhere)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

from stack_control.topology import Topology, bootstrap_servers, current, stack_env

ROOT = Path(__file__).resolve().parents[2]
ITEMS = [{"product_id": "sku-1", "name": "Tea", "quantity": 2, "price": "4.50"}]


@dataclass(frozen=True)
class Stack:
    env: dict[str, str]
    topology: Topology = field(default_factory=Topology)

    @classmethod
    def from_settings(cls) -> Stack:
        """The running stack's settings and topology (one broker or three, replicas)."""
        env = stack_env(ROOT)
        return cls(env, current(env, ROOT))

    def url(self, name: str) -> str:
        explicit = self.env.get(f"E2E_{name}_URL")
        return explicit or f"http://127.0.0.1:{self.env[f'{name}_PORT']}"

    @property
    def gateway(self) -> str:
        return self.url("GATEWAY")

    @property
    def kafka(self) -> str:
        """Every broker: a client that knows one only cannot start while that one is down."""
        explicit = self.env.get("E2E_KAFKA_BOOTSTRAP_SERVERS")
        return explicit or bootstrap_servers(self.env, self.topology)

    def database(self, prefix: str) -> str:
        """A libpq URL for a service's database (the URL the service uses, driver removed)."""
        url = self.env.get(f"E2E_{prefix}_DATABASE_URL") or self.env[f"{prefix}_DATABASE_URL"]
        return url.replace("+asyncpg", "").replace("+psycopg", "")

    @property
    def celery_broker(self) -> str:
        return self.env.get("E2E_CELERY_BROKER_URL", self.env["PROCESSOR_CELERY_BROKER_URL"])


@dataclass(frozen=True)
class Sql:
    """A service's database, read like an outsider; a new connection for each query, so the
    fault tests may restart PostgreSQL under it."""

    dsn: str

    def scalar(self, query: str, params: tuple[object, ...] = ()) -> int:
        with psycopg.connect(self.dsn, autocommit=True, connect_timeout=3) as conn:
            row = conn.execute(query, params).fetchone()
        return int(row[0]) if row else 0

    def rows(self, query: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        with psycopg.connect(self.dsn, autocommit=True, connect_timeout=3) as conn:
            return list(conn.execute(query, params).fetchall())


@dataclass(frozen=True)
class User:
    id: int
    email: str
    password: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def register_and_login(stack: Stack, http: httpx.Client, name: str) -> User:
    email = f"{name}-{uuid.uuid4().hex[:10]}@example.com"
    password = f"pw-{uuid.uuid4().hex}"
    created = http.post(f"{stack.gateway}/register/", json={"email": email, "password": password})
    assert created.status_code == 201, created.text
    token = http.post(f"{stack.gateway}/token/", data={"username": email, "password": password})
    assert token.status_code == 200, token.text
    return User(created.json()["id"], email, password, token.json()["access_token"])


def processed_count(db: Sql, order_ids: list[str]) -> int:
    return db.scalar(
        "SELECT count(*) FROM processed_orders WHERE order_id = ANY(%s::uuid[])", (order_ids,)
    )


def published_count(db: Sql, order_ids: list[str]) -> int:
    return db.scalar(
        "SELECT count(*) FROM outbox WHERE key = ANY(%s) AND published_at IS NOT NULL",
        (order_ids,),
    )


def unpublished_count(db: Sql, order_ids: list[str]) -> int:
    return db.scalar(
        "SELECT count(*) FROM outbox WHERE key = ANY(%s) AND published_at IS NULL", (order_ids,)
    )
