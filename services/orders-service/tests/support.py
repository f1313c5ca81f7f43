"""Helpers of the orders-service tests (fixtures live in the conftest files): keys and tokens
(the tests sign with their own key, the app trusts its public half), request bodies, clients,
log capture, polling, and reading a Kafka topic."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import jwt
from confluent_kafka import Consumer, TopicPartition
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from fastapi import FastAPI
from jwt.algorithms import get_default_algorithms
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from orders_service.config import get_settings
from service_kit.logging import configure_logging
from stack_control.db import redis_url_for_tests

T = TypeVar("T")

SERVICE_DIR = Path(__file__).resolve().parents[1]
TEST_REDIS_URL = redis_url_for_tests(get_settings().redis_url, 3)

ISSUER = "orders-platform-auth"
AUDIENCE = "orders-platform"

MakeApp = Callable[..., Awaitable[FastAPI]]
Auth = Callable[[int], dict[str, str]]
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


def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://orders.test")


async def create_order(
    client: httpx.AsyncClient, headers: dict[str, str], **body: Any
) -> dict[str, Any]:
    payload = {"items": [{"product_id": "sku-1", "quantity": 1, "price": "10.00"}], **body}
    response = await client.post("/orders/", json=payload, headers=headers)
    assert response.status_code == 201, response.text
    order: dict[str, Any] = response.json()
    return order


def parse_utc(value: str) -> datetime:
    assert value.endswith("Z"), value
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() == timedelta(0)
    return parsed


def order_json(user_id: int = 1) -> dict[str, Any]:
    """An order as the API answers it, for building outbox rows directly."""
    now = datetime.now(UTC).isoformat()
    return {
        "id": str(uuid.uuid4()),
        "user_id": user_id,
        "items": [{"product_id": "sku-1", "name": None, "quantity": 1, "price": 9.5}],
        "total_price": 9.5,
        "status": "PENDING",
        "created_at": now,
        "updated_at": now,
    }


class StatementLog:
    """Every SQL statement the app's engine sends to PostgreSQL."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.statements: list[str] = []
        event.listen(engine.sync_engine, "before_cursor_execute", self._record)

    def _record(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.statements.append(statement)

    def clear(self) -> None:
        self.statements.clear()


def log_events(caplog: Any, name: str) -> list[dict[str, Any]]:
    """The structlog events called `name` that reached the root logger (see capture_logs)."""
    return [r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("event") == name]


def capture_logs(caplog: Any) -> None:
    """Route structlog through stdlib logging, as the service does, into pytest's caplog.

    Call it after the last create_app of a test: create_app replaces the root handlers."""
    configure_logging("orders-service", "INFO", json_logs=False)
    logging.getLogger().addHandler(caplog.handler)


async def eventually_async(
    probe: Callable[[], Awaitable[T | None]], seconds: float, what: str, interval: float = 0.2
) -> T:
    """`stack_control.waiting.eventually` for a probe that must await (the app under test runs
    in this event loop, so a blocking poll would stall it): the probe's first truthy answer, or
    an AssertionError naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        result = await probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {seconds:.0f} s")
        await asyncio.sleep(interval)


async def wait_for_redis(url: str = TEST_REDIS_URL, seconds: float = 30.0) -> Redis:
    """A client once Redis answers (another test may have stopped it for a moment)."""
    client = Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)

    async def answers() -> bool:
        try:
            return bool(await client.ping())
        except (RedisError, OSError):
            return False

    await eventually_async(answers, seconds, "Redis answering", interval=0.25)
    return client


def read_topic(bootstrap: str, topic: str, expected: int, seconds: float = 30) -> list[Any]:
    """Every message of `topic` from the beginning, once at least `expected` have arrived."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"t-{uuid.uuid4()}",
            "enable.auto.commit": False,
        }
    )
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        consumer.assign([TopicPartition(topic, p, 0) for p in meta.partitions])
        messages: list[Any] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                messages.append(msg)
            elif msg is None and len(messages) >= expected:
                break
        return messages
    finally:
        consumer.close()
