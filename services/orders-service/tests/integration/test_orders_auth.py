"""Authentication of the orders API: every endpoint needs a valid Bearer token, and every kind of
bad token is the same 401."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import uuid
from typing import Any

import httpx

from tests.support import SigningKey, bearer, ed25519_key, item, mint

ALICE, BOB = 101, 202


def bad_tokens(key: SigningKey) -> dict[str, str]:
    other = ed25519_key(key.kid)  # same kid, different key: a forged signature
    return {
        "garbage": "not-a-jwt",
        "expired": mint(key, ALICE, expires_in=-60),
        "wrong issuer": mint(key, ALICE, iss="someone-else"),
        "wrong audience": mint(key, ALICE, aud="another-api"),
        "no exp": mint(key, ALICE, drop=("exp",)),
        "no iat": mint(key, ALICE, drop=("iat",)),
        "no sub": mint(key, ALICE, drop=("sub",)),
        "no iss": mint(key, ALICE, drop=("iss",)),
        "no aud": mint(key, ALICE, drop=("aud",)),
        "sub not a user id": mint(key, "alice"),
        "forged signature": mint(other, ALICE),
        "HS256 with the public key as secret": _hs256_with(key),
        "alg none": _unsigned(),
        "tampered payload": _tampered(mint(key, ALICE)),
    }


def _hs256_with(key: SigningKey) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": key.kid}).encode())
    payload = b64(json.dumps({"sub": str(ALICE), "iss": "x", "aud": "y"}).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = hmac.new(key.public_pem, signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(signature)}"


def _unsigned() -> str:
    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64({'sub': str(ALICE)})}."


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = str(BOB)
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


class TestAuthentication:
    """No call gets past a missing or bad token: each is a 401 with `WWW-Authenticate`."""

    async def test_every_endpoint_needs_a_token(self, client: httpx.AsyncClient) -> None:
        some_id = uuid.uuid4()
        calls = [
            client.post("/orders/", json={"items": [item()]}),
            client.get(f"/orders/{some_id}/"),
            client.patch(f"/orders/{some_id}/", json={"status": "PAID"}),
            client.get(f"/orders/user/{ALICE}/"),
        ]
        for response in await asyncio.gather(*calls):
            assert response.status_code == 401, response.text
            assert response.headers["www-authenticate"] == "Bearer"
            assert response.json() == {"detail": "not authenticated"}

    async def test_bad_tokens_get_401_with_www_authenticate(
        self, client: httpx.AsyncClient, signing_key: SigningKey
    ) -> None:
        for case, token in bad_tokens(signing_key).items():
            response = await client.get(f"/orders/user/{ALICE}/", headers=bearer(token))
            assert response.status_code == 401, (case, response.text)
            assert response.headers["www-authenticate"] == "Bearer", case
            assert response.json() == {"detail": "invalid or expired token"}, case

    async def test_a_token_is_checked_before_the_body(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/orders/", json={"items": []})
        assert response.status_code == 401
