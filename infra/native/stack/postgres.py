"""PostgreSQL's set-up: where its files and socket live, initdb on a fresh data directory, and
each service's role and databases. The superuser works over the local socket only."""

from __future__ import annotations

import shutil
import subprocess
import sys
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit

from .settings import Settings
from .shell import run

# The services whose <PREFIX>_DATABASE_URL names a role and a database of their own.
SERVICES = ("AUTH", "ORDERS", "PROCESSOR")


def pg_bin(tool: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{tool}"), key=lambda p: p.parts[-3])
    if found:
        return str(found[-1])
    which = shutil.which(tool)
    if not which:
        sys.exit(f"PostgreSQL's {tool} is not installed; run infra/native/install.sh")
    return which


class Postgres:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def user(self) -> str | None:
        """PostgreSQL refuses to run as root: as root, it runs as `postgres`."""
        return "postgres" if self.settings.is_root else None

    @cached_property
    def root(self) -> Path:
        """As root, PostgreSQL's files belong to the `postgres` user, which must be able to
        reach them; when it cannot reach STACK_DIR, use /var/tmp."""
        stack_dir = self.settings.stack_dir
        if not self.settings.is_root:
            return stack_dir / "postgres"
        probe = subprocess.run(
            ["runuser", "-u", "postgres", "--", "test", "-x", str(stack_dir)],
            capture_output=True,
            check=False,
        )
        if probe.returncode == 0:
            return stack_dir / "postgres"
        # fixed, one per stack
        return Path("/var/tmp") / f"orders-stack-{self.settings.digest}" / "postgres"  # noqa: S108

    @property
    def socket_dir(self) -> Path:
        return self.settings.socket_root / "pg"

    def command(self) -> str:
        return (
            f"{pg_bin('postgres')} -D {self.root / 'data'} -p {self.settings.port('POSTGRES')} "
            f"-k {self.socket_dir} -c listen_addresses=127.0.0.1"
        )

    def ready(self) -> bool:
        result = subprocess.run(
            [pg_bin("pg_isready"), "-h", str(self.socket_dir), "-p", self._port],
            capture_output=True,
            check=False,
        )
        return result.returncode == 0

    @property
    def _port(self) -> str:
        return str(self.settings.port("POSTGRES"))

    def init(self) -> None:
        """The cluster's directories (owned by `postgres` as root) and, once, initdb."""
        root, data = self.root, self.root / "data"
        root.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if self.user:
            shutil.chown(root, self.user, self.user)
            shutil.chown(self.socket_dir, self.user, self.user)
        if (data / "PG_VERSION").exists():
            return
        data.mkdir(parents=True, exist_ok=True)
        if self.user:
            shutil.chown(data, self.user, self.user)
        as_user = ["runuser", "-u", self.user, "--"] if self.user else []
        run(
            self.settings,
            [
                *as_user,
                pg_bin("initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--no-instructions",
            ],
        )
        with (data / "postgresql.conf").open("a") as conf:
            conf.write("\nfsync = on\nmax_connections = 200\nshared_buffers = 256MB\n")

    def psql(self, sql: str, **variables: str) -> str:
        """Run SQL as the superuser over the local socket; values are bound as psql variables
        (`:'name'` for a literal, `:"name"` for an identifier), never pasted into the text."""
        args = [pg_bin("psql"), "-h", str(self.socket_dir), "-p", self._port]
        args += ["-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-tAq"]
        for key, value in variables.items():
            args += ["-v", f"{key}={value}"]
        result = subprocess.run(args, input=sql, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            sys.exit(f"psql failed: {result.stderr.strip()}")
        return result.stdout.strip()

    def ensure_databases(self) -> None:
        """One role and two databases per service (the service's and its tests'), from the
        services' DATABASE_URLs."""
        for prefix in SERVICES:
            url = urlsplit(self.settings.env[f"{prefix}_DATABASE_URL"].replace("+asyncpg", ""))
            role, password, db = url.username, url.password, url.path.lstrip("/")
            if not (role and password and db):
                sys.exit(f"{prefix}_DATABASE_URL needs a user, a password and a database")
            names = {"role": role, "password": password, "db": db}
            if self.psql("SELECT 1 FROM pg_roles WHERE rolname = :'role'", **names) != "1":
                self.psql('CREATE ROLE :"role" LOGIN', **names)
            self.psql("ALTER ROLE :\"role\" WITH LOGIN PASSWORD :'password'", **names)
            for name in (db, f"{db}_test"):
                names["db"] = name
                if self.psql("SELECT 1 FROM pg_database WHERE datname = :'db'", **names) != "1":
                    self.psql('CREATE DATABASE :"db" OWNER :"role"', **names)
