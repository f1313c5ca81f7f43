"""Settings every service shares; each service subclasses with its own env prefix."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", env_file=None)

    environment: Literal["dev", "test", "prod"] = "dev"
    log_level: str = "INFO"
    log_json: bool = True
    database_url: str
    db_connect_timeout_seconds: float = 1.5
    cors_origins: list[str] = ["http://localhost:3000"]
    cors_methods: list[str] = ["GET", "POST", "PATCH", "OPTIONS"]
    cors_headers: list[str] = ["Authorization", "Content-Type", "X-Request-ID"]
    cors_allow_credentials: bool = False
    # Addresses (CIDRs) whose X-Forwarded-For is believed: the gateway. Empty: the socket peer.
    trusted_proxies: list[str] = []
    rate_limit_enabled: bool = True
    # A loop without HTTP (relay, consumer) touches this file on every turn (service_kit.heartbeat).
    heartbeat_file: Path | None = None

    # Values that exist only to make a laptop start; refused outside dev.
    dev_only_values: ClassVar[dict[str, tuple[str, ...]]] = {
        "database_url": ("dev-only",),
    }

    @model_validator(mode="after")
    def _refuse_dev_defaults(self) -> ServiceSettings:
        if "*" in self.cors_origins and self.cors_allow_credentials:
            raise ValueError("CORS: '*' origins cannot be combined with credentials")
        if self.environment == "dev":
            return self
        for field, markers in self.dev_only_values.items():
            value = str(getattr(self, field, "") or "")
            if any(marker in value for marker in markers):
                raise ValueError(f"{field} still holds a development default; set it for prod")
        return self
