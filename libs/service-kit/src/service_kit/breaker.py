"""A circuit breaker: after a failure, skip a dependency for a while instead of waiting on it.

Closed: calls go through. Open: calls are skipped until `open_seconds` pass. Half-open: one call
probes; success closes, failure opens again (silently: the outage was logged when it opened).
Opening and closing are each logged once, as `<event_prefix>.breaker_opened` / `_closed`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum

import structlog

log = structlog.get_logger(__name__)


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        open_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        event_prefix: str = "breaker",
    ) -> None:
        self.name = name
        self.open_seconds = open_seconds
        self.clock = clock
        self.event_prefix = event_prefix
        self.state = BreakerState.CLOSED
        self.opened_at = 0.0

    def allow(self) -> bool:
        if self.state is BreakerState.CLOSED:
            return True
        # Open long enough (or a probe that never reported back, e.g. a cancelled request):
        # this caller is the one probe.
        if self.clock() - self.opened_at >= self.open_seconds:
            self.state = BreakerState.HALF_OPEN
            self.opened_at = self.clock()
            return True
        return False

    def success(self) -> None:
        # Only the probe closes the breaker: a call that began before it opened and happened to
        # succeed says nothing about the dependency now.
        if self.state is BreakerState.HALF_OPEN:
            self.state = BreakerState.CLOSED
            log.info(f"{self.event_prefix}.breaker_closed", breaker=self.name)

    def failure(self, error: BaseException) -> None:
        if self.state is BreakerState.CLOSED:
            log.warning(
                f"{self.event_prefix}.breaker_opened",
                breaker=self.name,
                error=type(error).__name__,
                skip_seconds=self.open_seconds,
            )
        self.state = BreakerState.OPEN
        self.opened_at = self.clock()
