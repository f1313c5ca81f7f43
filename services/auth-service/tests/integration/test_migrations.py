"""Alembic migrations run against a real PostgreSQL database, down to nothing and back up."""

from pathlib import Path

from auth_service.config import get_settings
from stack_control.db import alembic, db_url_for_tests, table_names

SERVICE_DIR = Path(__file__).resolve().parents[2]
TABLES = {"users"}


def test_migrations_go_down_to_base_and_up_to_head() -> None:
    url = db_url_for_tests(get_settings().database_url)
    alembic(SERVICE_DIR, "AUTH_DATABASE_URL", url, "upgrade", "head")
    assert table_names(url) >= TABLES

    alembic(SERVICE_DIR, "AUTH_DATABASE_URL", url, "downgrade", "base")
    assert not TABLES & table_names(url)

    out = alembic(SERVICE_DIR, "AUTH_DATABASE_URL", url, "upgrade", "head")
    assert "Running upgrade" in out
    assert table_names(url) >= TABLES
    assert "(head)" in alembic(SERVICE_DIR, "AUTH_DATABASE_URL", url, "current")
