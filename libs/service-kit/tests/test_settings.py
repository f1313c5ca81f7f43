"""The shared settings refuse what must not reach production."""

from __future__ import annotations

import pytest

from service_kit.settings import ServiceSettings


def test_wildcard_origins_with_credentials_are_refused() -> None:
    with pytest.raises(ValueError, match="credentials"):
        ServiceSettings(database_url="x", cors_origins=["*"], cors_allow_credentials=True)


def test_development_values_are_refused_outside_dev() -> None:
    with pytest.raises(ValueError, match="development default"):
        ServiceSettings(database_url="postgresql://u:dev-only-pw@h/db", environment="prod")
