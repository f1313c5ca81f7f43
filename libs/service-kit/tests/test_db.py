"""Database URLs with another driver, and the engine's bound on a server that stops answering."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import literal, select
from sqlalchemy.engine import make_url

from service_kit.db import make_engine, postgres_url


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


class _Relay:
    """A TCP relay to the real PostgreSQL that can go silent: once `hang()` is called it keeps
    every socket open and forwards nothing, as a frozen server does."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.silent = False
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    def hang(self) -> None:
        self.silent = True

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            if not self.silent:
                writer.write(data)
                await writer.drain()
        writer.close()


@pytest.fixture
async def relayed_url() -> AsyncIterator[tuple[str, _Relay]]:
    url = os.environ.get("ORDERS_DATABASE_URL")
    if not url:
        pytest.skip("needs the running stack's ORDERS_DATABASE_URL")
    parsed = make_url(url)
    relay = _Relay(parsed.host or "127.0.0.1", parsed.port or 5432)
    port = await relay.start()
    yield parsed.set(host="127.0.0.1", port=port).render_as_string(hide_password=False), relay
    await relay.close()


async def test_a_server_that_stops_answering_costs_one_statement_timeout(
    relayed_url: tuple[str, _Relay],
) -> None:
    url, relay = relayed_url
    engine = make_engine(url, connect_timeout=0.5, statement_timeout=0.5)
    async with engine.connect() as conn:
        assert (await conn.execute(select(literal(1)))).scalar() == 1
    relay.hang()
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        async with engine.connect() as conn:
            await conn.execute(select(literal(1)))
    elapsed = time.monotonic() - started
    await engine.dispose()
    # the statement's bound and little after it: the dropped connection is not closed
    # gracefully (SQLAlchemy would wait up to 2 s more for a goodbye that never comes)
    assert elapsed < 0.5 + 0.25, elapsed
