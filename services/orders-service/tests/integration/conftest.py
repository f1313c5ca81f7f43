"""Integration fixtures: the real PostgreSQL test database (migrated once per session, tables
truncated before each test), Redis db 3 (flushed before each test), apps built by create_app and
driven in-process through httpx's ASGITransport, tokens signed with a test Ed25519 key."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from orders_service.config import Settings, get_settings
from orders_service.main import create_app
from stack_control.db import alembic, db_url_for_tests, redis_url_for_tests
from tests.helpers import SigningKey, bearer, ed25519_key, mint

SERVICE_DIR = Path(__file__).resolve().parents[2]
TEST_REDIS_URL = redis_url_for_tests(get_settings().redis_url, 3)

MakeApp = Callable[..., Awaitable[FastAPI]]
Auth = Callable[[int], dict[str, str]]


@pytest.fixture(scope="session")
def database_url() -> str:
    url = db_url_for_tests(get_settings().database_url)
    alembic(SERVICE_DIR, "ORDERS_DATABASE_URL", url, "upgrade", "head")
    return url


@pytest.fixture(scope="session")
def signing_key() -> SigningKey:
    return ed25519_key("orders-tests")


@pytest.fixture(scope="session")
def public_key_file(signing_key: SigningKey, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "jwt_public.pem"
    path.write_bytes(signing_key.public_pem)
    return path


@pytest.fixture
def auth(signing_key: SigningKey) -> Auth:
    """Authorization headers for a user id."""
    return lambda user_id: bearer(mint(signing_key, user_id))


async def wait_for_redis(url: str = TEST_REDIS_URL, seconds: float = 30.0) -> Redis:
    """A client once Redis answers (another test may have stopped it for a moment)."""
    client = Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    deadline = time.monotonic() + seconds
    while True:
        try:
            await client.ping()
            return client
        except (RedisError, OSError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.25)


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = await wait_for_redis()
    yield client
    await client.aclose()


@pytest.fixture
async def clean(database_url: str, redis: Redis) -> None:
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("TRUNCATE orders, outbox"))
    finally:
        await engine.dispose()
    await redis.flushdb()


@pytest.fixture
def make_settings(database_url: str, public_key_file: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "environment": "dev",
            "database_url": database_url,
            "redis_url": TEST_REDIS_URL,
            "jwt_public_key_file": public_key_file,
            "rate_limit_enabled": False,
            "cache_breaker_seconds": 1.0,
            "log_json": False,
            **overrides,
        }
        return Settings(**values)

    return make


@pytest.fixture
async def make_app(make_settings: Callable[..., Settings], clean: None) -> AsyncIterator[MakeApp]:
    """Build apps (with their lifespan running) for this test; all are shut down after it."""
    async with AsyncExitStack() as stack:

        async def make(**overrides: Any) -> FastAPI:
            app = create_app(make_settings(**overrides))
            await stack.enter_async_context(app.router.lifespan_context(app))
            return app

        yield make


@pytest.fixture
async def app(make_app: MakeApp) -> FastAPI:
    return await make_app()


def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://orders.test")


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as c:
        yield c


class StatementLog:
    """Every SQL statement the app's engine sends to PostgreSQL."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.statements: list[str] = []
        event.listen(engine.sync_engine, "before_cursor_execute", self._record)

    def _record(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.statements.append(statement)

    def clear(self) -> None:
        self.statements.clear()


@pytest.fixture
def sql(app: FastAPI) -> StatementLog:
    return StatementLog(app.state.engine)


async def create_order(
    client: httpx.AsyncClient, headers: dict[str, str], **body: Any
) -> dict[str, Any]:
    payload = {"items": [{"product_id": "sku-1", "quantity": 1, "price": "10.00"}], **body}
    response = await client.post("/orders/", json=payload, headers=headers)
    assert response.status_code == 201, response.text
    order: dict[str, Any] = response.json()
    return order
