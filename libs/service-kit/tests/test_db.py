"""Database URLs with another driver, for clients that are not the app's async engine."""

from __future__ import annotations

import pytest

from service_kit.db import postgres_url


@pytest.mark.parametrize(
    ("url", "driver", "expected"),
    [
        (
            "postgresql+asyncpg://auth:pw@db:5432/auth",
            None,
            "postgresql://auth:pw@db:5432/auth",
        ),
        (
            "postgresql+asyncpg://processor:pw@127.0.0.1:5432/processor",
            "psycopg",
            "postgresql+psycopg://processor:pw@127.0.0.1:5432/processor",
        ),
        ("postgresql://u:p@h/db", "asyncpg", "postgresql+asyncpg://u:p@h/db"),
    ],
    ids=["drop-driver", "other-driver", "add-driver"],
)
def test_the_driver_is_replaced(url: str, driver: str | None, expected: str) -> None:
    assert postgres_url(url, driver) == expected


def test_the_password_is_kept_and_only_the_scheme_changes() -> None:
    url = "postgresql+asyncpg://u:p%40ss+asyncpg@h:5432/db?ssl=require"
    assert postgres_url(url) == "postgresql://u:p%40ss+asyncpg@h:5432/db?ssl=require"
