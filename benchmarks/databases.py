"""Scratch databases on the stack's PostgreSQL: `<db>_bench` beside each service's database,
owned by the service's role and migrated with Alembic, so the bench may fill them with as many
rows as it likes and never touches the services' own."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from instances import ROOT, native_stack

from stack_control.db import alembic


def superuser_socket() -> Path:
    """The stack's PostgreSQL socket folder: its superuser works over the local socket only."""
    settings = native_stack("settings").load()
    return Path(settings.socket_root) / "pg"


def psql(sql: str, **variables: str) -> str:
    """SQL as the superuser; values bound as psql variables (`:'name'`, `:"name"`)."""
    port = os.environ.get("POSTGRES_PORT", "5432")
    command = ["psql", "-h", str(superuser_socket()), "-p", port, "-U", "postgres"]
    command += ["-d", "postgres", "-v", "ON_ERROR_STOP=1", "-tAq"]
    for name, value in variables.items():
        command += ["-v", f"{name}={value}"]
    answer = subprocess.run(command, input=sql, capture_output=True, text=True, check=False)
    if answer.returncode != 0:  # most often: the stack is not up (make dev-up)
        raise SystemExit(f"bench: psql on the stack's PostgreSQL failed: {answer.stderr.strip()}")
    return answer.stdout.strip()


def bench_database(prefix: str, service_dir: str) -> str:
    """`<db>_bench` beside the service's database, owned by the service's role, migrated to
    head: the bench fills it with as many rows as it likes. Returns its SQLAlchemy URL."""
    parts = urlsplit(os.environ[f"{prefix}_DATABASE_URL"])
    name = parts.path.lstrip("/") + "_bench"
    names = {"db": name, "role": parts.username or ""}
    if psql("SELECT 1 FROM pg_database WHERE datname = :'db'", **names) != "1":
        psql('CREATE DATABASE :"db" OWNER :"role"', **names)
    url = urlunsplit(parts._replace(path=f"/{name}"))
    alembic(ROOT / "services" / service_dir, f"{prefix}_DATABASE_URL", url, "upgrade", "head")
    return url


def libpq(url: str) -> str:
    """A SQLAlchemy URL as psycopg / pgbench take it."""
    return url.replace("+asyncpg", "")
