"""GET /users/me/: only a valid token of an active user is accepted."""

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from httpx import AsyncClient
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from auth_service.db.models import User
from auth_service.services.access_tokens import KeyRing, TokenService, public_key_pem, thumbprint
from tests.support import AppFactory, ClientFactory, access_token, bearer, register, retired_key

ISSUER = "orders-platform-auth"
AUDIENCE = "orders-platform"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"


def claims_for(user_id: int, **overrides: Any) -> dict[str, Any]:
    now = int(datetime.now(UTC).timestamp())
    claims = {
        "sub": str(user_id),
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 600,
        "jti": "a" * 32,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def sign(key: Ed25519PrivateKey, claims: dict[str, Any], kid: str | None = None) -> str:
    kid = kid or thumbprint(key.public_key())
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid})


def _forgeries(key: Ed25519PrivateKey, user_id: int) -> dict[str, str]:
    kid = thumbprint(key.public_key())
    good = claims_for(user_id)
    valid = sign(key, good)
    head, _, signature = valid.split(".")
    tampered_claims = b64(json.dumps({**good, "sub": str(user_id + 1)}).encode())
    hs_input = unsigned({"alg": "HS256", "typ": "JWT", "kid": kid}, good)
    hs_signature = hmac.new(public_key_pem(key.public_key()), hs_input.encode(), hashlib.sha256)
    past = datetime.now(UTC) - timedelta(hours=1)
    return {
        "expired": sign(
            key, claims_for(user_id, iat=int(past.timestamp()), exp=int(past.timestamp()) + 60)
        ),
        "issued-in-the-future": sign(
            key, claims_for(user_id, iat=int(datetime.now(UTC).timestamp()) + 3600)
        ),
        "tampered-payload": f"{head}.{tampered_claims}.{signature}",
        "tampered-signature": valid[:-4] + ("AAAA" if not valid.endswith("AAAA") else "BBBB"),
        "alg-none": unsigned({"alg": "none", "typ": "JWT", "kid": kid}, good) + ".",
        "hs256-with-public-key": f"{hs_input}.{b64(hs_signature.digest())}",
        "wrong-aud": sign(key, claims_for(user_id, aud="someone-else")),
        "aud-list": sign(key, claims_for(user_id, aud=[AUDIENCE, "someone-else"])),
        "wrong-iss": sign(key, claims_for(user_id, iss="https://evil.example")),
        "unknown-kid": sign(key, good, kid="not-a-known-key"),
        "other-key": sign(Ed25519PrivateKey.generate(), good),
        "missing-exp": sign(key, claims_for(user_id, exp=None)),
        "missing-iat": sign(key, claims_for(user_id, iat=None)),
        "missing-sub": sign(key, claims_for(user_id, sub=None)),
        "missing-jti": sign(key, claims_for(user_id, jti=None)),
        "sub-not-a-user-id": sign(key, claims_for(user_id, sub="alice@example.com")),
        "sub-of-nobody": sign(key, claims_for(user_id + 1000)),
        "garbage": "not.a.jwt",
    }


FORGERIES = list(_forgeries(Ed25519PrivateKey.generate(), 1))


class TestAcceptedTokens:
    async def test_valid_token_gives_the_user(self, client: AsyncClient) -> None:
        user_id = await register(client)
        token = await access_token(client)

        response = await client.get("/users/me/", headers=bearer(token))

        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"id", "email", "created_at"}
        assert body["id"] == user_id
        assert body["email"] == "alice@example.com"

    async def test_a_hand_made_valid_token_is_accepted(
        self, client: AsyncClient, signing_key: Ed25519PrivateKey
    ) -> None:
        """The forgeries of `_forgeries` fail for their flaw, not for how the test builds tokens."""
        user_id = await register(client)

        response = await client.get(
            "/users/me/", headers=bearer(sign(signing_key, claims_for(user_id)))
        )

        assert response.status_code == 200

    async def test_token_of_a_retired_key_listed_as_previous_still_works(
        self, make_app: AppFactory, make_client: ClientFactory, tmp_path: Path
    ) -> None:
        retired, retired_file = retired_key(tmp_path)
        client = make_client(make_app(jwt_previous_public_keys_files=[retired_file]))
        user_id = await register(client)
        old_tokens = TokenService(
            KeyRing.build(retired), issuer=ISSUER, audience=AUDIENCE, lifetime=timedelta(minutes=30)
        )

        response = await client.get(
            "/users/me/", headers=bearer(old_tokens.issue(user_id).access_token)
        )

        assert response.status_code == 200
        assert response.json()["id"] == user_id


class TestRefusedTokens:
    async def test_no_token_is_401(self, client: AsyncClient) -> None:
        response = await client.get("/users/me/")

        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"

    @pytest.mark.parametrize("kind", FORGERIES)
    async def test_bad_tokens_are_401(
        self, client: AsyncClient, signing_key: Ed25519PrivateKey, kind: str
    ) -> None:
        user_id = await register(client)
        token = _forgeries(signing_key, user_id)[kind]

        response = await client.get("/users/me/", headers=bearer(token))

        assert response.status_code == 401, kind
        assert response.headers["www-authenticate"] == "Bearer"
        assert "alice" not in response.text

    async def test_inactive_user_is_401(
        self, client: AsyncClient, cleanup_engine: AsyncEngine
    ) -> None:
        user_id = await register(client)
        token = await access_token(client)
        async with cleanup_engine.begin() as conn:
            await conn.execute(update(User).where(User.id == user_id).values(is_active=False))

        response = await client.get("/users/me/", headers=bearer(token))

        assert response.status_code == 401

    async def test_token_of_a_retired_key_not_listed_is_401(
        self, client: AsyncClient, signing_key: Ed25519PrivateKey
    ) -> None:
        user_id = await register(client)
        retired = Ed25519PrivateKey.generate()
        token = sign(retired, claims_for(user_id))

        response = await client.get("/users/me/", headers=bearer(token))

        assert response.status_code == 401
