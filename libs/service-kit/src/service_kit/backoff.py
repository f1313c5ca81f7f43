"""The one back-off formula of the platform: exponential, capped, with jitter.

Attempt n waits a random time in [c/2, c], where c = min(cap, base * 2**n): retries of many
processes after one outage spread out instead of arriving together.
"""

from __future__ import annotations

import random

import structlog

log = structlog.get_logger(__name__)

# 2**10 times the base is past every cap in use; a long outage must not overflow the float.
_MAX_EXPONENT = 10


def backoff_ceiling(attempt: int, *, base: float, cap: float) -> float:
    """The longest wait before retry number `attempt` (1 for the first retry)."""
    return min(cap, base * 2.0 ** min(max(attempt, 0), _MAX_EXPONENT))


def backoff_delay(attempt: int, *, base: float, cap: float) -> float:
    """How long to wait before retry number `attempt`: jittered within its ceiling's upper half."""
    ceiling = backoff_ceiling(attempt, base=base, cap=cap)
    return random.uniform(ceiling / 2, ceiling)  # timing jitter, not a secret


def logged_retry_delay(
    event: str, error: BaseException, attempt: int, *, base: float, cap: float, **where: object
) -> float:
    """The delay before retry `attempt` after `error`, logged once as a warning `event` with the
    error's type and message, the attempt, the delay and `where` it happened."""
    delay = backoff_delay(attempt, base=base, cap=cap)
    log.warning(
        event,
        error=type(error).__name__,
        detail=str(error)[:300],
        attempt=attempt,
        delay_s=round(delay, 2),
        **where,
    )
    return delay
