"""Async SQLAlchemy engine with short connect timeouts, so a database outage is a fast 503."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import literal, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def postgres_url(url: str, driver: str | None = None) -> str:
    """`url` with its driver replaced: `postgresql+asyncpg://…` → `postgresql://…` for libpq-style
    clients (asyncpg.connect, psql), or `postgresql+<driver>://…` for another SQLAlchemy driver."""
    parsed = make_url(url)
    name = parsed.get_backend_name() + (f"+{driver}" if driver else "")
    return parsed.set(drivername=name).render_as_string(hide_password=False)


# Every statement of these services is a key lookup or a short write: one still running after
# this long is waiting on a hung server (or a lock that will not come), and the caller gets a 503
# instead of waiting with it.
STATEMENT_TIMEOUT_SECONDS = 3.0


def make_engine(
    url: str,
    connect_timeout: float = 1.5,
    pool_size: int = 10,
    statement_timeout: float = STATEMENT_TIMEOUT_SECONDS,
) -> AsyncEngine:
    """An engine whose every wait is bounded: the pool checkout and the connect by
    `connect_timeout`, each statement by `statement_timeout` on the client (asyncpg cancels it;
    this holds even when the server is frozen and answers nothing) and on the server."""
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_timeout=connect_timeout,
        connect_args={
            "timeout": connect_timeout,
            "command_timeout": statement_timeout,
            "server_settings": {"statement_timeout": str(int(statement_timeout * 1000))},
        },
        # an error's message never carries the bound values (emails, password hashes)
        hide_parameters=True,
    )


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(select(literal(1)))


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


AfterCommit = Callable[[], Awaitable[None]]
_AFTER_COMMIT = "service_kit.after_commit"


def after_commit(session: AsyncSession, hook: AfterCommit) -> None:
    """Run `hook` once this session's transaction has committed (never after a rollback):
    for work that must follow a durable change, such as refreshing a cache."""
    session.info.setdefault(_AFTER_COMMIT, []).append(hook)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The one place that commits for HTTP requests: commit on success, roll back on error,
    then run the after-commit hooks."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            session.info.pop(_AFTER_COMMIT, None)
            await session.rollback()
            raise
        for hook in session.info.pop(_AFTER_COMMIT, []):
            await hook()


# scope="function": FastAPI ends the dependency (commit, hooks) before the response is sent, so
# a failed commit is never preceded by a 2xx and a client reads its own writes.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
