"""auth-service settings, from env variables prefixed AUTH_."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Final

from limits import parse_many
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from service_kit.settings import ServiceSettings

# The one signing algorithm (Ed25519 signatures, RFC 8037). Fixed here, not configurable:
# verifiers allow exactly this algorithm and nothing else.
JWT_ALGORITHM: Final = "EdDSA"

# bcrypt's cost in production; tests may go lower (AUTH_BCRYPT_ROUNDS=4) outside prod.
MIN_PROD_BCRYPT_ROUNDS: Final = 12


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AUTH_", extra="ignore")

    database_url: str = "postgresql+asyncpg://auth:dev-only-auth@127.0.0.1:5432/auth"
    redis_url: str = "redis://127.0.0.1:6379/0"

    # passwords
    bcrypt_rounds: int = Field(default=12, ge=4, le=31)

    # access tokens
    access_token_minutes: int = Field(default=30, ge=1, le=24 * 60)
    jwt_issuer: str = Field(default="orders-platform-auth", min_length=1)
    jwt_audience: str = Field(default="orders-platform", min_length=1)
    # The Ed25519 private key as PEM (`\n` escapes allowed), or a file holding it.
    jwt_private_key: SecretStr | None = None
    jwt_private_key_file: Path | None = None
    # dev only: with no key configured, one is generated here at first start (mode 0600).
    jwt_key_dir: Path = Path(".secrets/auth")
    # Public keys (PEM files) of retired signing keys whose tokens may still be live.
    jwt_previous_public_keys_files: list[Path] = []

    # rate limits (`limits` syntax, e.g. "10/minute"; several separated by ";")
    rate_limit_token: str = "10/minute"  # noqa: S105 (a rate, not a secret)
    # /token/ per client IP whatever the username (password spraying), before any hashing
    rate_limit_token_per_ip: str = "30/minute"  # noqa: S105 (a rate, not a secret)
    rate_limit_register: str = "30/minute"

    @field_validator("jwt_private_key", "jwt_private_key_file", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # compose's `${AUTH_JWT_PRIVATE_KEY:-}` passes an empty string for "not set"
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("rate_limit_token", "rate_limit_token_per_ip", "rate_limit_register")
    @classmethod
    def _valid_rate_limit(cls, value: str) -> str:
        # a bad limit string must stop the start, not surface on the first request
        parse_many(value)
        return value

    @model_validator(mode="after")
    def _refuse_insecure_outside_dev(self) -> Settings:
        if self.environment == "dev":
            return self
        if self.jwt_private_key is None and self.jwt_private_key_file is None:
            raise ValueError(
                "no JWT signing key: set AUTH_JWT_PRIVATE_KEY or AUTH_JWT_PRIVATE_KEY_FILE "
                "(a key is generated only when AUTH_ENVIRONMENT=dev)"
            )
        if self.environment == "prod" and self.bcrypt_rounds < MIN_PROD_BCRYPT_ROUNDS:
            raise ValueError(f"AUTH_BCRYPT_ROUNDS must be at least {MIN_PROD_BCRYPT_ROUNDS}")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
