"""Async SQLAlchemy engine with short connect timeouts, so a database outage is a fast 503."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Request
from sqlalchemy import event, literal, select
from sqlalchemy.engine import Engine, ExceptionContext, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

from service_kit.error_handlers import causes, is_lost_connection


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
    pool_size: int = 20,
    statement_timeout: float = STATEMENT_TIMEOUT_SECONDS,
) -> AsyncEngine:
    """An engine whose every wait is bounded: the pool checkout and the connect by
    `connect_timeout`, each statement by `statement_timeout` on the client (asyncpg cancels it;
    this holds even when the server is frozen and answers nothing) and on the server.

    A connection is pinged at checkout only after it sat idle (`ping_when_idle`): a ping per
    request would cost a round trip (three statements on asyncpg) on the hot path. One that
    dies while in use fails its statement with a 503 (error_handlers.py) and is marked
    disconnected, so SQLAlchemy drops it and every connection the pool opened before it.

    At most `pool_size` connections, opened when first needed and then kept: no overflow, which
    the pool would close as soon as a burst of requests is over and open again for the next one
    (under steady load, a connect with its TLS attempt and type introspection many times a
    second)."""
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=connect_timeout,
        connect_args={
            "timeout": connect_timeout,
            "command_timeout": statement_timeout,
            "server_settings": {"statement_timeout": str(int(statement_timeout * 1000))},
        },
        # an error's message never carries the bound values (emails, password hashes)
        hide_parameters=True,
    )
    event.listen(engine.sync_engine, "handle_error", _lost_connection_is_a_disconnect)
    event.listen(engine.sync_engine.pool, "invalidate", _abort_when_unanswered)
    ping_when_idle(engine.sync_engine)
    return engine


# A connection back from the pool after this long idle is pinged before use: a restarted server
# leaves the pool full of dead ones. One in steady use is not: no round trip per request.
PING_AFTER_IDLE_SECONDS = 1.0


def ping_when_idle(engine: Engine, idle_seconds: float = PING_AFTER_IDLE_SECONDS) -> None:
    """`pool_pre_ping` for connections idle longer than `idle_seconds` only; a failed ping makes
    the pool replace the connection (for the async engines too: pass `engine.sync_engine`)."""

    def returned(_: Any, record: ConnectionPoolEntry) -> None:
        record.info["returned_at"] = time.monotonic()

    def checked_out(dbapi_connection: Any, record: ConnectionPoolEntry, _: Any) -> None:
        returned_at = record.info.get("returned_at")
        if returned_at is None or time.monotonic() - returned_at < idle_seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError("an idle connection failed its ping") from exc

    event.listen(engine, "checkin", returned)
    event.listen(engine, "checkout", checked_out)


def _lost_connection_is_a_disconnect(context: ExceptionContext) -> None:
    """asyncpg's "connection is closed" is not always taken for a disconnect by SQLAlchemy
    (it asks the connection, which may not know yet): a lost link by our reckoning is one."""
    if not context.is_disconnect and is_lost_connection(context.original_exception):
        context.is_disconnect = True


def _abort_when_unanswered(
    dbapi_connection: Any, _: ConnectionPoolEntry, exception: BaseException | None
) -> None:
    """A connection dropped because the server did not answer in time is closed at once:
    SQLAlchemy would first try a graceful close, which waits another 2 s for a server that
    answers nothing (a frozen one) before the caller gets its 503."""
    if exception is None or not any(isinstance(c, TimeoutError) for c in causes(exception)):
        return
    driver_connection = getattr(dbapi_connection, "driver_connection", None)
    if isinstance(driver_connection, asyncpg.Connection):
        driver_connection.terminate()


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


@asynccontextmanager
async def unit_of_work(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """The one place that commits for HTTP requests: commit on success, roll back on error,
    then run the after-commit hooks. Through `SessionDep`, or in a hot route itself (one
    dependency less for FastAPI to resolve on every request)."""
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


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """`SessionDep`: the request's `unit_of_work` on the app's sessionmaker."""
    async with unit_of_work(request.app.state.sessionmaker) as session:
        yield session


# scope="function": FastAPI ends the dependency (commit, hooks) before the response is sent, so
# a failed commit is never preceded by a 2xx and a client reads its own writes.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
