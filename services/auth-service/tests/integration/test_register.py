"""POST /register/ against the real database."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from auth_service.db.models import User
from tests.support import PASSWORD


async def test_register_creates_a_user_with_a_bcrypt_hash(
    client: AsyncClient, cleanup_engine: AsyncEngine
) -> None:
    response = await client.post(
        "/register/", json={"email": "Alice@Example.com", "password": PASSWORD}
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"id", "email", "created_at"}
    assert isinstance(body["id"], int)
    assert body["email"] == "alice@example.com"
    created_at = datetime.fromisoformat(body["created_at"])
    assert abs(datetime.now(UTC) - created_at) < timedelta(minutes=1)

    async with cleanup_engine.connect() as conn:
        row = (await conn.execute(select(User.email, User.password_hash, User.is_active))).one()
    assert row.email == "alice@example.com"
    assert row.password_hash.startswith("$2b$04$")  # the test settings' cost
    assert PASSWORD not in row.password_hash
    assert row.is_active


async def test_same_email_in_another_case_is_taken(client: AsyncClient) -> None:
    first = await client.post("/register/", json={"email": "bob@example.com", "password": PASSWORD})
    again = await client.post("/register/", json={"email": "BOB@Example.COM", "password": PASSWORD})

    assert first.status_code == 201
    assert again.status_code == 409
    assert again.json() == {"detail": "email already registered"}


async def test_concurrent_registrations_of_one_email_give_one_user(client: AsyncClient) -> None:
    body = {"email": "race@example.com", "password": PASSWORD}
    responses = await asyncio.gather(*(client.post("/register/", json=body) for _ in range(5)))

    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409, 409]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"email": "not-an-email", "password": PASSWORD}, "bad email"),
        ({"email": "a@b", "password": PASSWORD}, "email without a domain dot"),
        ({"email": "carol@example.com", "password": "seven77"}, "7 bytes"),
        ({"email": "carol@example.com", "password": "ééé"}, "6 bytes in 3 characters"),
        ({"email": "carol@example.com", "password": "a" * 73}, "73 bytes"),
        ({"email": "carol@example.com", "password": "é" * 36 + "a"}, "73 bytes in 37 characters"),
        ({"email": "carol@example.com"}, "missing password"),
        ({"password": PASSWORD}, "missing email"),
        ({"email": "carol@example.com", "password": PASSWORD, "is_admin": True}, "unknown field"),
    ],
)
async def test_invalid_registrations_are_422(
    client: AsyncClient, payload: dict[str, str], reason: str
) -> None:
    response = await client.post("/register/", json=payload)

    assert response.status_code == 422, reason
    assert isinstance(response.json()["detail"], list)  # FastAPI's validation shape


@pytest.mark.parametrize("password", ["éééé", "a" * 72, "é" * 36], ids=["8B", "72B", "72B-utf8"])
async def test_byte_length_bounds_are_inclusive(client: AsyncClient, password: str) -> None:
    response = await client.post(
        "/register/", json={"email": "dan@example.com", "password": password}
    )

    assert response.status_code == 201, response.text


async def test_register_never_echoes_the_password(client: AsyncClient) -> None:
    response = await client.post(
        "/register/", json={"email": "eve@example.com", "password": PASSWORD}
    )

    assert PASSWORD not in response.text


async def test_internationalized_email_is_stored_lower_case(client: AsyncClient) -> None:
    created = await client.post(
        "/register/", json={"email": "Ärger@Bücher.de", "password": PASSWORD}
    )
    again = await client.post("/register/", json={"email": "ärger@bücher.DE", "password": PASSWORD})

    assert created.status_code == 201, created.text
    assert created.json()["email"] == "ärger@bücher.de"
    assert again.status_code == 409


@pytest.mark.parametrize(
    "raw",
    [
        '{"email": "carol@example.com", "password": NaN}',
        '{"email": "carol@example.com", "password": "pass\\ud800word"}',
        '{"email": "x\\ud800@example.com", "password": "long enough"}',
    ],
    ids=["NaN password", "lone surrogate in password", "lone surrogate in email"],
)
async def test_bodies_json_cannot_echo_are_422_not_500(client: AsyncClient, raw: str) -> None:
    response = await client.post(
        "/register/", content=raw, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 422, response.text
    assert "input" not in response.text
