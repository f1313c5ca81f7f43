"""The circuit breaker, on a fake clock."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from service_kit.breaker import BreakerState, CircuitBreaker
from service_kit.logging import configure_logging


def capture_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Route structlog through stdlib logging, as the services do, into pytest's caplog."""
    configure_logging("service-kit-tests", "INFO", json_logs=False)
    logging.getLogger().addHandler(caplog.handler)


def log_events(caplog: pytest.LogCaptureFixture, name: str) -> list[dict[str, Any]]:
    """The structlog events called `name` that reached the root logger (see capture_logs)."""
    return [r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("event") == name]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def state(breaker: CircuitBreaker) -> BreakerState:
    return breaker.state


def test_a_failure_opens_the_breaker_for_the_pause() -> None:
    clock = Clock()
    breaker = CircuitBreaker("redis", 5.0, clock)
    assert breaker.allow()

    breaker.failure(ConnectionError())
    assert state(breaker) is BreakerState.OPEN
    clock.now += 4.9
    assert not breaker.allow()


def test_after_the_pause_one_caller_probes() -> None:
    clock = Clock()
    breaker = CircuitBreaker("redis", 5.0, clock)
    breaker.failure(ConnectionError())
    clock.now += 5

    assert breaker.allow()  # the probe
    assert state(breaker) is BreakerState.HALF_OPEN
    assert not breaker.allow()  # everyone else keeps skipping Redis meanwhile

    breaker.success()
    assert state(breaker) is BreakerState.CLOSED
    assert breaker.allow()


def test_a_failed_probe_opens_it_again() -> None:
    clock = Clock()
    breaker = CircuitBreaker("redis", 5.0, clock)
    breaker.failure(ConnectionError())
    clock.now += 5
    assert breaker.allow()
    breaker.failure(TimeoutError())
    assert state(breaker) is BreakerState.OPEN
    clock.now += 1
    assert not breaker.allow()


def test_a_probe_that_never_reports_back_is_replaced() -> None:
    clock = Clock()
    breaker = CircuitBreaker("redis", 5.0, clock)
    breaker.failure(ConnectionError())
    clock.now += 5
    assert breaker.allow()  # this probe is cancelled and never reports
    clock.now += 5
    assert breaker.allow()


def test_each_state_change_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    capture_logs(caplog)
    clock = Clock()
    breaker = CircuitBreaker("redis", 5.0, clock, event_prefix="cache")
    for _ in range(3):  # an outage across several probes
        breaker.failure(ConnectionError())
        clock.now += 5
        breaker.allow()
    breaker.success()
    breaker.success()

    assert len(log_events(caplog, "cache.breaker_opened")) == 1
    assert len(log_events(caplog, "cache.breaker_closed")) == 1
