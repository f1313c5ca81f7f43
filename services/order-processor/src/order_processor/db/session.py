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
from sqlalchemy.orm import Session, sessionmaker

from order_processor.config import Settings, get_settings
from order_processor.db.repository import ProcessorRepository
from service_kit.db import STATEMENT_TIMEOUT_SECONDS


def make_sync_engine(settings: Settings, pool_size: int = 10, max_overflow: int = 20) -> Engine:
    return create_engine(
        settings.sync_database_url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
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


@lru_cache
def sync_engine() -> Engine:
    # the worker's threads hold a connection only for a few short statements each
    return make_sync_engine(get_settings())


@lru_cache
def sync_sessionmaker() -> sessionmaker[Session]:
    return sessionmaker(sync_engine(), expire_on_commit=False)


@contextmanager
def transaction(sessions: sessionmaker[Session]) -> Iterator[ProcessorRepository]:
    """One unit of work: committed when the block ends, rolled back when it raises, and its
    connection back in the pool either way."""
    with sessions() as session, session.begin():
        yield ProcessorRepository(session)
