"""auth-service settings, from env variables prefixed AUTH_."""

from __future__ import annotations

from functools import lru_cache
from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from service_kit.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AUTH_", extra="ignore")

    database_url: str = "postgresql+asyncpg://auth:dev-only-auth@127.0.0.1:5432/auth"
    redis_url: str = "redis://127.0.0.1:6379/0"

    dev_only_values: ClassVar[dict[str, tuple[str, ...]]] = {
        "database_url": ("dev-only",),
    }


@lru_cache
def get_settings() -> Settings:
    return Settings()
