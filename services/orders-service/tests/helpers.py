"""Test keys and tokens: the tests sign with their own key, the app trusts its public half."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from jwt.algorithms import get_default_algorithms

ISSUER = "orders-platform-auth"
AUDIENCE = "orders-platform"

PrivateKey = ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class SigningKey:
    private_key: PrivateKey
    alg: str
    kid: str

    @property
    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @property
    def public_jwk(self) -> dict[str, Any]:
        algorithm = get_default_algorithms()[self.alg]
        jwk: dict[str, Any] = json.loads(algorithm.to_jwk(self.private_key.public_key()))
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}


def ed25519_key(kid: str | None = None) -> SigningKey:
    return SigningKey(ed25519.Ed25519PrivateKey.generate(), "EdDSA", kid or uuid.uuid4().hex)


def rsa_key(kid: str | None = None) -> SigningKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return SigningKey(private, "RS256", kid or uuid.uuid4().hex)


def jwks(*keys: SigningKey) -> dict[str, Any]:
    return {"keys": [key.public_jwk for key in keys]}


def mint(
    key: SigningKey,
    sub: str | int = "1",
    *,
    expires_in: int = 600,
    drop: tuple[str, ...] = (),
    headers: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    """A token as auth-service issues it; `drop` removes claims, keyword args override them."""
    now = int(time.time())
    payload: dict[str, Any] = {
        "sub": str(sub),
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + expires_in,
        "jti": uuid.uuid4().hex,
        **claims,
    }
    for name in drop:
        payload.pop(name, None)
    return jwt.encode(
        payload, key.private_key, algorithm=key.alg, headers={"kid": key.kid, **(headers or {})}
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def item(**overrides: Any) -> dict[str, Any]:
    return {"product_id": "sku-1", "name": "Widget", "quantity": 2, "price": "9.99", **overrides}


def log_events(caplog: Any, name: str) -> list[dict[str, Any]]:
    """The structlog events called `name` that reached the root logger (see capture_logs)."""
    return [r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("event") == name]


def capture_logs(caplog: Any) -> None:
    """Route structlog through stdlib logging, as the service does, into pytest's caplog.

    Call it after the last create_app of a test: create_app replaces the root handlers."""
    import logging

    from service_kit.logging import configure_logging

    configure_logging("orders-service", "INFO", json_logs=False)
    logging.getLogger().addHandler(caplog.handler)
