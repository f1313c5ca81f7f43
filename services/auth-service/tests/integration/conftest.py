"""Integration fixtures: the real `auth_test` database (migrated once per session, emptied
before each test), Redis db 2 for the rate-limit counters (flushed before each test), and apps
built by `create_app(Settings(...))`, driven in-process over ASGI."""

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from auth_service.config import Settings, get_settings
from auth_service.db.models import User
from auth_service.main import create_app
from auth_service.services.tokens import private_key_pem
from stack_control.db import alembic, db_url_for_tests
from tests.integration.support import (
    TEST_REDIS_URL,
    AppFactory,
    ClientFactory,
    SettingsFactory,
)

SERVICE_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def database_url() -> str:
    url = db_url_for_tests(get_settings().database_url)
    alembic(SERVICE_DIR, "AUTH_DATABASE_URL", url, "upgrade", "head")
    return url


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
async def redis_up() -> None:
    """For tests of the shared counters: wait (with a deadline) while another test, perhaps
    another service's, has Redis stopped."""
    redis = Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=0.5)
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                await redis.ping()
                return
            except RedisError:
                if time.monotonic() > deadline:
                    pytest.fail("Redis has been down for 60 s")
                await asyncio.sleep(0.5)
    finally:
        await redis.aclose()


@pytest.fixture
def make_settings(
    database_url: str, signing_key: Ed25519PrivateKey, tmp_path: Path
) -> SettingsFactory:
    def factory(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "environment": "dev",
            "log_json": False,
            "database_url": database_url,
            "redis_url": TEST_REDIS_URL,
            "bcrypt_rounds": 4,
            "jwt_private_key": SecretStr(private_key_pem(signing_key).decode()),
            "jwt_key_dir": tmp_path / "keys",
            "trusted_proxies": [],
            "rate_limit_enabled": True,
            "rate_limit_token": "1000/minute",
            "rate_limit_register": "1000/minute",
        }
        values.update(overrides)
        return Settings(**values)

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
