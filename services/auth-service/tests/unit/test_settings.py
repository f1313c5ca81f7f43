"""Settings refuse what must not reach production."""

import os
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from pydantic import SecretStr, ValidationError

from auth_service.config import Settings

PROD_DB = "postgresql+asyncpg://auth:pw-from-a-vault@db:5432/auth"


@pytest.fixture(autouse=True)
def _no_auth_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("AUTH_"):
            monkeypatch.delenv(name)


def settings(**values: Any) -> Settings:
    return Settings(**{"database_url": PROD_DB, "jwt_key_dir": Path("/nonexistent"), **values})


@pytest.mark.parametrize("environment", ["test", "prod"])
def test_no_signing_key_outside_dev_refuses_to_start(environment: str) -> None:
    with pytest.raises(ValidationError, match="no JWT signing key"):
        settings(environment=environment)


def test_dev_may_go_without_a_key() -> None:
    assert settings(environment="dev").jwt_private_key is None


@pytest.mark.parametrize(
    "key", [{"jwt_private_key": SecretStr("pem")}, {"jwt_private_key_file": Path("/k.pem")}]
)
def test_prod_with_a_key_starts(key: dict[str, Any]) -> None:
    assert settings(environment="prod", **key).environment == "prod"


def test_prod_refuses_a_low_bcrypt_cost() -> None:
    with pytest.raises(ValidationError, match="AUTH_BCRYPT_ROUNDS"):
        settings(environment="prod", jwt_private_key=SecretStr("pem"), bcrypt_rounds=10)


def test_bad_rate_limit_strings_are_refused() -> None:
    with pytest.raises(ValidationError, match="rate limit"):
        settings(rate_limit_token="ten a minute")


def test_defaults() -> None:
    s = settings(environment="dev")

    assert s.bcrypt_rounds == 12
    assert s.access_token_minutes == 30
    assert s.jwt_issuer == "orders-platform-auth"
    assert s.jwt_audience == "orders-platform"
    assert s.rate_limit_token == "10/minute"
    assert s.rate_limit_register == "30/minute"


def test_private_key_is_not_printed() -> None:
    pem = (
        Ed25519PrivateKey.generate()
        .private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        .decode()
    )
    s = settings(jwt_private_key=SecretStr(pem))

    body = pem.splitlines()[1]
    assert body not in repr(s) and body not in str(s.model_dump())


def test_empty_key_variables_count_as_unset() -> None:
    s = settings(environment="dev", jwt_private_key="", jwt_private_key_file="")

    assert s.jwt_private_key is None
    assert s.jwt_private_key_file is None
