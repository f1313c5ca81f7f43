"""The processes without HTTP, started by the bench with settings of its own: the outbox relay
on `orders_bench`, the order consumer and the Celery worker on `processor_bench`, a `bench.*`
topic, a consumer group and a queue of their own, with the bench's Redis (db 1) as broker."""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path

import psycopg
from context import Bench
from databases import libpq
from instances import ROOT, Proc, process

BIN = Path(sys.executable).parent


def relay(b: Bench, core: str | None = None, **env: str) -> AbstractContextManager[Proc]:
    settings = {"ORDERS_DATABASE_URL": b.orders_db, "ORDERS_LOG_LEVEL": "WARNING", **env}
    command = [sys.executable, "-m", "orders_service.outbox_relay"]
    return process(
        "relay", command, cwd=ROOT / "services" / "orders-service", env=settings, core=core
    )


def processor_env(b: Bench, topic: str, dlq: str) -> dict[str, str]:
    """A consumer and worker of the bench's own; the work itself takes no time."""
    return {
        "PROCESSOR_DATABASE_URL": b.processor_db,
        "PROCESSOR_TOPIC": topic,
        "PROCESSOR_DLQ_TOPIC": dlq,
        "PROCESSOR_CONSUMER_GROUP": f"bench-{uuid.uuid4().hex[:8]}",
        "PROCESSOR_CELERY_BROKER_URL": b.redis.db(1),
        "PROCESSOR_TASK_QUEUE": "bench-orders",
        "PROCESSOR_ORDER_PROCESSING_SECONDS": "0",
        "ORDER_PROCESSING_SECONDS": "0",
        "PROCESSOR_LOG_LEVEL": "WARNING",
    }


@contextmanager
def consumer_and_worker(
    env: dict[str, str],
    *,
    worker_core: str | None = None,
    consumer_core: str | None = None,
    replicas: int = 1,
) -> Iterator[None]:
    """`replicas` consumers (one group: the partitions are shared out) and as many workers,
    each pinned to its core if one is given."""
    cwd = ROOT / "services" / "order-processor"
    consumer = [sys.executable, "-m", "order_processor.consumer"]
    with ExitStack() as started:
        for n in range(1, replicas + 1):
            suffix = "" if n == 1 else f"-{n}"
            worker = [str(BIN / "celery"), "-A", "order_processor.celery_app", "worker"]
            worker += ["--loglevel", "WARNING", "--hostname", f"bench-{uuid.uuid4().hex[:6]}@%h"]
            started.enter_context(
                process(f"worker{suffix}", worker, cwd=cwd, env=env, core=worker_core)
            )
            started.enter_context(
                process(f"consumer{suffix}", consumer, cwd=cwd, env=env, core=consumer_core)
            )
        yield


def truncate_processor(b: Bench) -> None:
    with psycopg.connect(libpq(b.processor_db)) as db:
        tables = db.execute(
            "SELECT string_agg(quote_ident(tablename), ', ') FROM pg_tables"
            " WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
        ).fetchone()
        if tables and tables[0]:
            db.execute(f"TRUNCATE {tables[0]}")


@contextmanager
def outbox_topic(b: Bench, topic: str) -> Iterator[None]:
    """Every outbox row written to `orders_bench` meanwhile goes to `topic` instead of
    `new_order` (a trigger of the scratch database): the stack's consumer never sees them."""
    function = (
        "CREATE OR REPLACE FUNCTION bench_topic() RETURNS trigger LANGUAGE plpgsql AS $$"
        f" BEGIN NEW.topic := '{topic}'; RETURN NEW; END $$"
    )
    with psycopg.connect(libpq(b.orders_db), autocommit=True) as db:
        db.execute(function.encode())
        db.execute("DROP TRIGGER IF EXISTS bench_topic ON outbox")
        db.execute(
            "CREATE TRIGGER bench_topic BEFORE INSERT ON outbox"
            " FOR EACH ROW EXECUTE FUNCTION bench_topic()"
        )
    try:
        yield
    finally:
        with psycopg.connect(libpq(b.orders_db), autocommit=True) as db:
            db.execute("DROP TRIGGER IF EXISTS bench_topic ON outbox")


def poll(seconds: float, done: Callable[[], bool], interval: float = 0.2) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if done():
            return True
        time.sleep(interval)
    return done()
