"""Helpers of auth-service's tests: settings and apps for the test database, and the calls a
user makes (register, log in). Fixtures in the conftests build on these; tests import them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from httpx import AsyncClient, Response
from pydantic import SecretStr
from redis import Redis
from redis.exceptions import RedisError

from auth_service.config import Settings, get_settings
from auth_service.services.access_tokens import private_key_pem, public_key_pem
from stack_control.db import redis_url_for_tests
from stack_control.waiting import eventually

SERVICE_DIR = Path(__file__).resolve().parents[1]

SettingsFactory = Callable[..., Settings]
AppFactory = Callable[..., FastAPI]
ClientFactory = Callable[..., AsyncClient]

# rate-limit counters of the tests (the stack uses db 0)
TEST_REDIS_URL = redis_url_for_tests(get_settings().redis_url, 2)

EMAIL = "alice@example.com"
PASSWORD = "correct horse battery"


def settings_for_tests(
    database_url: str, signing_key: Ed25519PrivateKey, key_dir: Path, **overrides: Any
) -> Settings:
    """Settings for an app on the test database and Redis db, signing with `signing_key`, with
    a low bcrypt cost and limits high enough for any test that does not test them."""
    values: dict[str, Any] = {
        "environment": "dev",
        "log_json": False,
        "database_url": database_url,
        "redis_url": TEST_REDIS_URL,
        "bcrypt_rounds": 4,
        "jwt_private_key": SecretStr(private_key_pem(signing_key).decode()),
        "jwt_key_dir": key_dir,
        "trusted_proxies": [],
        "rate_limit_enabled": True,
        "rate_limit_token": "1000/minute",
        "rate_limit_register": "1000/minute",
    }
    values.update(overrides)
    return Settings(**values)


def wait_for_redis(seconds: float = 60) -> None:
    """Return once Redis answers: another test, perhaps another service's, may have it stopped."""
    redis = Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=0.5)

    def answers() -> bool:
        try:
            return bool(redis.ping())
        except RedisError:
            return False

    try:
        eventually(answers, seconds, "Redis answering", interval=0.5)
    finally:
        redis.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def register(client: AsyncClient, email: str = EMAIL, password: str = PASSWORD) -> int:
    response = await client.post("/register/", json={"email": email, "password": password})
    assert response.status_code == 201, response.text
    user_id: int = response.json()["id"]
    return user_id


async def login(client: AsyncClient, email: str = EMAIL, password: str = PASSWORD) -> Response:
    return await client.post("/token/", data={"username": email, "password": password})


async def access_token(client: AsyncClient, email: str = EMAIL, password: str = PASSWORD) -> str:
    response = await login(client, email, password)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def retired_key(tmp_path: Path) -> tuple[Ed25519PrivateKey, Path]:
    """A key that signed tokens before a rotation, and its public key's file, as
    AUTH_JWT_PREVIOUS_PUBLIC_KEYS_FILES lists it."""
    key = Ed25519PrivateKey.generate()
    path = tmp_path / "retired.pub.pem"
    path.write_bytes(public_key_pem(key.public_key()))
    return key, path
