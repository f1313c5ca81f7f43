"""A Celery app for `celery -A tests.failing_worker worker`: the production task, whose work
always raises a non-transient error."""

from __future__ import annotations

from order_processor import tasks
from order_processor.celery_app import app

__all__ = ["app"]


def _broken(_: float) -> None:
    raise ValueError("the work broke")


tasks.work = _broken
