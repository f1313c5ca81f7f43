"""Black-box fixtures: base URLs, Kafka and SQL access from env, with the .env.example defaults."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
import psycopg
import pytest

from stack_control.env import load_env

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


@dataclass(frozen=True)
class Stack:
    env: dict[str, str]

    def url(self, name: str) -> str:
        explicit = self.env.get(f"E2E_{name}_URL")
        return explicit or f"http://127.0.0.1:{self.env[f'{name}_PORT']}"

    @property
    def gateway(self) -> str:
        return self.url("GATEWAY")

    @property
    def kafka(self) -> str:
        return self.env.get("E2E_KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{self.env['KAFKA_PORT']}")

    def database(self, prefix: str) -> str:
        """A libpq URL for a service's database (the URL the service uses, driver removed)."""
        url = self.env.get(f"E2E_{prefix}_DATABASE_URL") or self.env[f"{prefix}_DATABASE_URL"]
        return url.replace("+asyncpg", "").replace("+psycopg", "")

    @property
    def celery_broker(self) -> str:
        return self.env.get("E2E_CELERY_BROKER_URL", self.env["PROCESSOR_CELERY_BROKER_URL"])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `last` run after all the others, in their order."""
    items.sort(key=lambda item: item.get_closest_marker("last") is not None)


@pytest.fixture(scope="session")
def stack() -> Stack:
    return Stack(load_env(ROOT))


@pytest.fixture(scope="session")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


@dataclass(frozen=True)
class Sql:
    """A service's database, read like an outsider; a new connection for each query, so the
    fault tests may restart PostgreSQL under it."""

    dsn: str

    def scalar(self, query: str, params: tuple[object, ...] = ()) -> int:
        with psycopg.connect(self.dsn, autocommit=True, connect_timeout=3) as conn:
            row = conn.execute(query, params).fetchone()
        return int(row[0]) if row else 0


@pytest.fixture(scope="session")
def processor_db(stack: Stack) -> Sql:
    return Sql(stack.database("PROCESSOR"))


def eventually(probe: Callable[[], T | None], seconds: float, what: str) -> T:
    """Poll `probe` until it returns something truthy, or fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {seconds:.0f} s")
        time.sleep(0.2)


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


@pytest.fixture(scope="session")
def alice(stack: Stack, http: httpx.Client) -> User:
    return register_and_login(stack, http, "alice")


@pytest.fixture(scope="session")
def bob(stack: Stack, http: httpx.Client) -> User:
    return register_and_login(stack, http, "bob")


@pytest.fixture(scope="session")
def orders_db(stack: Stack) -> Sql:
    return Sql(stack.database("ORDERS"))


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


ITEMS = [{"product_id": "sku-1", "name": "Tea", "quantity": 2, "price": "4.50"}]
