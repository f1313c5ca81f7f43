"""Helpers shared by the integration tests."""

from collections.abc import Callable

from fastapi import FastAPI
from httpx import AsyncClient, Response

from auth_service.config import Settings, get_settings
from stack_control.db import redis_url_for_tests

SettingsFactory = Callable[..., Settings]
AppFactory = Callable[..., FastAPI]
ClientFactory = Callable[..., AsyncClient]

# rate-limit counters of the tests (the stack uses db 0)
TEST_REDIS_URL = redis_url_for_tests(get_settings().redis_url, 2)

EMAIL = "alice@example.com"
PASSWORD = "correct horse battery"


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
