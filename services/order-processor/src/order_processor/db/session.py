"""Sessions for order-processor.

The consumer, the Celery task and reconciliation are not HTTP: they use a synchronous engine
(psycopg) and commit in their own unit of work (`transaction`); the health app's probes and
gauges use the kit's async engine.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine.interfaces import IsolationLevel
from sqlalchemy.orm import Session, sessionmaker

from order_processor.config import Settings, get_settings
from order_processor.db.repository import ProcessorRepository
from service_kit.db import STATEMENT_TIMEOUT_SECONDS, ping_when_idle


def make_sync_engine(
    settings: Settings,
    pool_size: int = 10,
    max_overflow: int = 20,
    isolation_level: IsolationLevel | None = None,
) -> Engine:
    engine = create_engine(
        settings.sync_database_url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        isolation_level=isolation_level,  # None: the driver's default (transactions)
        hide_parameters=True,  # an error's message never carries the bound values
        # Bounded where libpq can bound it: the connect, each statement on the server, and a
        # peer that vanished (keepalives). A frozen server that holds its socket open is waited
        # out: psycopg has no client-side statement timeout; the consumer and the worker resume
        # where they were once it answers, and nothing is committed meanwhile.
        connect_args={
            "connect_timeout": 2,
            "options": f"-c statement_timeout={int(STATEMENT_TIMEOUT_SECONDS * 1000)}",
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
        },
    )
    ping_when_idle(engine)
    return engine


# Connections the consumer's or the worker's pool keeps at most (the most it opened before).
MAX_POOL_SIZE = 10


def _bounded_engine(isolation_level: IsolationLevel | None = None) -> Engine:
    """The worker's threads hold a connection only for a few short statements each: a thread
    that finds none free waits for one rather than open an overflow connection that is closed
    again on its return (a new server backend, and its authentication, per task). Connections
    are opened on demand: the consumer keeps one."""
    settings = get_settings()
    size = min(settings.worker_concurrency, MAX_POOL_SIZE)
    return make_sync_engine(
        settings, pool_size=size, max_overflow=0, isolation_level=isolation_level
    )


@lru_cache
def sync_engine() -> Engine:
    """The consumer's engine (its inbox transactions)."""
    return _bounded_engine()


@lru_cache
def sync_sessionmaker() -> sessionmaker[Session]:
    return sessionmaker(sync_engine(), expire_on_commit=False)


@lru_cache
def autocommit_engine() -> Engine:
    """The worker's engine, in autocommit mode, for units of work whose statements each stand
    alone (the task's: a claim, a finish, a failure, each one statement with its own guards):
    every statement commits by itself, which saves the BEGIN and COMMIT round trips. An engine
    of its own, not `sync_engine().execution_options(...)`: its connections stay in autocommit,
    instead of being switched on every checkout and back on every return."""
    return _bounded_engine("AUTOCOMMIT")


@contextmanager
def autocommit_transaction() -> Iterator[ProcessorRepository]:
    """The task's unit of work: a Core connection of `autocommit_engine`, no ORM session (one
    statement each; a session's set-up, commit and close cost more than the statement), and
    the connection back in the pool when the block ends."""
    with autocommit_engine().connect() as connection:
        yield ProcessorRepository(connection)


@contextmanager
def transaction(sessions: sessionmaker[Session]) -> Iterator[ProcessorRepository]:
    """One unit of work: committed when the block ends, rolled back when it raises, and its
    connection back in the pool either way."""
    with sessions() as session, session.begin():
        yield ProcessorRepository(session)
