"""Sessions for order-processor.

The consumer and the Celery task are not HTTP: they use a synchronous engine (psycopg) and
commit in their own unit of work; the health app uses the kit's async engine.
"""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from order_processor.config import get_settings


@lru_cache
def sync_engine() -> Engine:
    settings = get_settings()
    return create_engine(
        settings.sync_database_url,
        # the worker's threads hold a connection only for two short statements each
        pool_size=10,
        max_overflow=20,
        pool_pre_ping=True,
        hide_parameters=True,  # an error's message never carries the bound values
        connect_args={"connect_timeout": 2},
    )


@lru_cache
def sync_sessionmaker() -> sessionmaker[Session]:
    return sessionmaker(sync_engine(), expire_on_commit=False)
