"""Test databases: each service's tests use `<db>_test` beside the service's own database."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit


def db_url_for_tests(url: str) -> str:
    """The same server and role, database `<name>_test`."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    return urlunsplit(parts._replace(path=f"/{name}_test"))


def redis_url_for_tests(url: str, db: int) -> str:
    """The same Redis server, another database number (the stack uses 0 and 1)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{db}"))


def alembic(service_dir: Path, env_name: str, url: str, *args: str) -> str:
    """Run Alembic for a service against `url`, as a user would, and return its output."""
    env = {**os.environ, env_name: url}
    result = subprocess.run(
        ["alembic", *args],
        cwd=service_dir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"alembic {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout + result.stderr


def migrated_test_database(service_dir: Path, env_name: str, url: str) -> str:
    """The URL of the test database beside the service's `url`, migrated to head first."""
    test_url = db_url_for_tests(url)
    alembic(service_dir, env_name, test_url, "upgrade", "head")
    return test_url


def table_names(url: str) -> set[str]:
    """The tables of the public schema, read through SQLAlchemy's inspector."""
    import asyncio

    from sqlalchemy import inspect
    from sqlalchemy.ext.asyncio import create_async_engine

    async def read() -> set[str]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        finally:
            await engine.dispose()

    return asyncio.run(read())


def check_migrations_round_trip(
    service_dir: Path, env_name: str, url: str, tables: set[str]
) -> None:
    """Upgrade to head, downgrade to base (the tables are gone), upgrade again (they are back)."""
    alembic(service_dir, env_name, url, "upgrade", "head")
    assert table_names(url) >= tables

    alembic(service_dir, env_name, url, "downgrade", "base")
    assert not tables & table_names(url)

    out = alembic(service_dir, env_name, url, "upgrade", "head")
    assert "Running upgrade" in out
    assert table_names(url) >= tables
    assert "(head)" in alembic(service_dir, env_name, url, "current")
