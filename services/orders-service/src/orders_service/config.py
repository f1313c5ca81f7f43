"""orders-service settings, from env variables prefixed ORDERS_."""

from __future__ import annotations

from functools import lru_cache
from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from service_kit.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERS_", extra="ignore")

    database_url: str = "postgresql+asyncpg://orders:dev-only-orders@127.0.0.1:5432/orders"
    redis_url: str = "redis://127.0.0.1:6379/0"
    kafka_bootstrap_servers: str = "127.0.0.1:9092"

    # outbox relay
    relay_batch_size: int = 200
    relay_poll_seconds: float = 1.0
    relay_delivery_timeout_seconds: float = 10.0
    relay_max_backoff_seconds: float = 15.0
    outbox_retention_hours: float = 24.0

    dev_only_values: ClassVar[dict[str, tuple[str, ...]]] = {
        "database_url": ("dev-only",),
    }


@lru_cache
def get_settings() -> Settings:
    return Settings()
