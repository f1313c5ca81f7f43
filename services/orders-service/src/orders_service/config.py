"""orders-service settings, from env variables prefixed ORDERS_."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from limits import parse as parse_rate_limit
from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from service_kit.settings import ServiceSettings

# Only asymmetric algorithms: a public key must never double as an HMAC secret.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"EdDSA", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
)


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERS_", extra="ignore")

    database_url: str = "postgresql+asyncpg://orders:dev-only-orders@127.0.0.1:5432/orders"
    redis_url: str = "redis://127.0.0.1:6379/0"
    kafka_bootstrap_servers: str = "127.0.0.1:9092"

    # access tokens: auth-service's JWKS, or a PEM public key file instead
    jwks_url: str = "http://127.0.0.1:8001/.well-known/jwks.json"
    jwks_refresh_seconds: float = Field(300.0, gt=0)
    jwks_min_refresh_interval_seconds: float = Field(30.0, ge=0)
    jwks_fetch_timeout_seconds: float = Field(2.0, gt=0)
    jwt_public_key_file: Path | None = None
    jwt_algorithms: list[str] = ["EdDSA"]
    jwt_issuer: str = "orders-platform-auth"
    jwt_audience: str = "orders-platform"
    jwt_leeway_seconds: float = Field(5.0, ge=0, le=300)

    # order cache (Redis): read-through on GET, refreshed on PATCH
    cache_enabled: bool = True
    cache_ttl_seconds: int = Field(300, gt=0)
    cache_timeout_seconds: float = Field(0.1, gt=0, le=0.1)
    cache_breaker_seconds: float = Field(5.0, gt=0)

    # per-user limit on every /orders call (`limits` syntax); ORDERS_RATE_LIMIT_ENABLED switches it
    rate_limit: str = "120/minute"
    # calls without a valid token, per client IP, refused before the token is verified
    rate_limit_unauthenticated: str = "60/minute"

    # Idempotency-Key of POST /orders/: how long a key's first answer is kept and replayed (the
    # API promises at least 24 h); the relay's housekeeping deletes older keys
    idempotency_key_ttl_hours: float = Field(24.0, ge=24)

    # outbox relay
    relay_batch_size: int = Field(1000, ge=1, le=10_000)
    # batches in flight at once in one relay: one claims while another waits for Kafka
    relay_concurrency: int = Field(2, ge=1, le=8)
    relay_poll_seconds: float = 1.0
    relay_delivery_timeout_seconds: float = 10.0
    relay_max_backoff_seconds: float = 15.0
    outbox_retention_hours: float = 24.0

    @field_validator("jwt_public_key_file", mode="before")
    @classmethod
    def _empty_means_none(cls, value: Any) -> Any:
        return None if value in ("", None) else value

    @field_validator("jwt_algorithms")
    @classmethod
    def _asymmetric_only(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one algorithm is required")
        refused = sorted(set(value) - ASYMMETRIC_ALGORITHMS)
        if refused:
            raise ValueError(f"not an allowed asymmetric algorithm: {', '.join(refused)}")
        return value

    @field_validator("rate_limit", "rate_limit_unauthenticated")
    @classmethod
    def _valid_rate_limit(cls, value: str) -> str:
        parse_rate_limit(value)
        return value


@lru_cache
def get_settings() -> Settings:
    return Settings()
