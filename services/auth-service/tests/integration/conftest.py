"""Integration fixtures: the real `auth_test` database (migrated once per session, emptied
before each test), Redis db 2 for the rate-limit counters (flushed before each test), and apps
built by `create_app(Settings(...))`, driven in-process over ASGI."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from auth_service.config import Settings, get_settings
from auth_service.db.models import User
from auth_service.main import create_app
from stack_control.db import migrated_test_database
from tests.support import (
    SERVICE_DIR,
    TEST_REDIS_URL,
    AppFactory,
    ClientFactory,
    SettingsFactory,
    settings_for_tests,
    wait_for_redis,
)


@pytest.fixture(scope="session")
def database_url() -> str:
    return migrated_test_database(SERVICE_DIR, "AUTH_DATABASE_URL", get_settings().database_url)


@pytest.fixture(scope="session")
def signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="session")
async def cleanup_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    # NullPool: no statement cache survives test_migrations dropping and re-creating tables
    engine = create_async_engine(database_url, poolclass=NullPool)
    yield engine
    await engine.dispose()


@pytest.fixture(autouse=True)
async def _clean_state(cleanup_engine: AsyncEngine) -> None:
    async with cleanup_engine.begin() as conn:
        await conn.execute(delete(User))
    redis = Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=0.5)
    try:
        await redis.flushdb()
    except RedisError:
        pass  # Redis stopped by a fault test (perhaps another service's): the limiter copes
    finally:
        await redis.aclose()


@pytest.fixture
def redis_up() -> None:
    """For tests of the shared counters: wait (with a deadline) while another test, perhaps
    another service's, has Redis stopped."""
    wait_for_redis()


@pytest.fixture
def make_settings(
    database_url: str, signing_key: Ed25519PrivateKey, tmp_path: Path
) -> SettingsFactory:
    def factory(**overrides: Any) -> Settings:
        return settings_for_tests(database_url, signing_key, tmp_path / "keys", **overrides)

    return factory


@pytest.fixture
async def make_app(make_settings: SettingsFactory) -> AsyncIterator[AppFactory]:
    apps: list[FastAPI] = []

    def factory(**overrides: Any) -> FastAPI:
        app = create_app(make_settings(**overrides))
        apps.append(app)
        return app

    yield factory
    for app in apps:
        await app.state.engine.dispose()
        await app.state.redis.aclose()


@pytest.fixture
async def make_client() -> AsyncIterator[ClientFactory]:
    clients: list[AsyncClient] = []

    def factory(app: FastAPI, client_ip: str = "127.0.0.1") -> AsyncClient:
        transport = ASGITransport(app=app, client=(client_ip, 40000))
        client = AsyncClient(transport=transport, base_url="http://test")
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await client.aclose()


@pytest.fixture
def app(make_app: AppFactory) -> FastAPI:
    return make_app()


@pytest.fixture
def client(app: FastAPI, make_client: ClientFactory) -> AsyncClient:
    return make_client(app)
