"""Integration fixtures: the real PostgreSQL test database (migrated once per session, tables
truncated before each test), Redis db 3 (flushed before each test), apps built by create_app and
driven in-process through httpx's ASGITransport, tokens signed with a test Ed25519 key."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from orders_service.config import Settings, get_settings
from orders_service.main import create_app
from stack_control.db import migrated_test_database
from tests.support import (
    SERVICE_DIR,
    TEST_REDIS_URL,
    Auth,
    MakeApp,
    SigningKey,
    StatementLog,
    bearer,
    client_for,
    ed25519_key,
    mint,
    wait_for_redis,
)


@pytest.fixture(scope="session")
def database_url() -> str:
    return migrated_test_database(SERVICE_DIR, "ORDERS_DATABASE_URL", get_settings().database_url)


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
            await conn.execute(text("TRUNCATE orders, outbox, idempotency_keys"))
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


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as c:
        yield c


@pytest.fixture
def sql(app: FastAPI) -> StatementLog:
    return StatementLog(app.state.engine)
