"""Structured logging: JSON lines in containers, key=value on a terminal, one correlation id."""

from __future__ import annotations

import logging
import math
import secrets
import sys
import time
from contextvars import ContextVar
from typing import Any

import structlog

_correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)


def get_correlation_id() -> str | None:
    return _correlation_id.get()


def bind_correlation_id(value: str | None = None) -> str:
    """Bind a correlation id (a new one when none is given) to this context's logs."""
    cid = value or secrets.token_hex(16)
    _correlation_id.set(cid)
    return cid


def clear_correlation_id() -> None:
    _correlation_id.set(None)


def _add_correlation_id(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """The bound correlation id on every line logged in its context (one context variable,
    set and cleared once per request: cheaper than structlog's generic context)."""
    cid = _correlation_id.get()
    if cid is not None:
        event.setdefault("correlation_id", cid)
    return event


def configure_logging(service: str, level: str = "INFO", json_logs: bool = True) -> None:
    """Route structlog and stdlib logging through one renderer on stderr."""
    shared: list[Any] = [
        _add_correlation_id,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json_logs
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        # a line below the level is dropped first, before any processor has worked on it
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _add_service(service),
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access",):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "celery", "alembic"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def _add_service(service: str) -> Any:
    def processor(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
        event.setdefault("service", service)
        return event

    return processor


class Throttled:
    """An event that a flood can repeat (a refused request, a rejected token), logged at most
    once every `seconds` per process; the next line counts the ones left out (`suppressed`)."""

    def __init__(self, logger: Any, event: str, seconds: float = 1.0) -> None:
        self.logger = logger
        self.event = event
        self.seconds = seconds
        self._last = -math.inf
        self._suppressed = 0

    def __call__(self, **fields: Any) -> None:
        now = time.monotonic()
        if now - self._last < self.seconds:
            self._suppressed += 1
            return
        self.logger.info(self.event, suppressed=self._suppressed, **fields)
        self._last = now
        self._suppressed = 0
