"""Reconciliation's loop (services/reconciliation.py), run by the processor API's lifespan.

It runs there, not in the consumer or the worker: the API is the one process that is neither
on the hot path (a pass blocking on the database or the broker never delays a Kafka poll or a
task) nor gone while what it watches is broken (the consumer and the worker are the processes
whose losses it makes up for), and it serves /metrics, where the passes are counted. Several
API replicas may run it: the pass's advisory lock lets one pass at a time.
"""

from __future__ import annotations

import asyncio
from functools import partial

import structlog
from sqlalchemy.orm import sessionmaker

from order_processor.celery_app import make_celery
from order_processor.config import Settings
from order_processor.db.session import make_sync_engine, transaction
from order_processor.metrics import REQUEUED
from order_processor.services.reconciliation import reconcile
from order_processor.task_queue import TaskQueue

log = structlog.get_logger(__name__)


async def reconcile_forever(settings: Settings) -> None:
    """A pass now, then every `reconcile_interval_seconds`; a failed pass is logged and the
    next one tries again."""
    engine = make_sync_engine(settings, pool_size=1, max_overflow=0)
    one_pass = partial(
        reconcile,
        transaction=partial(transaction, sessionmaker(engine)),
        enqueue=TaskQueue(make_celery(settings), settings.task_queue).enqueue,
        older_than_seconds=settings.reconcile_after_seconds,
        limit=settings.reconcile_batch_size,
    )
    try:
        while True:
            try:
                requeued = await asyncio.to_thread(one_pass)
            except Exception as exc:
                log.warning("reconcile.failed", error=type(exc).__name__, detail=str(exc)[:300])
            else:
                REQUEUED.inc(requeued or 0)
            await asyncio.sleep(settings.reconcile_interval_seconds)
    finally:
        engine.dispose()
