"""The order processing use case: the work runs under a claim, so once per order whatever the
deliveries, and a failed run is recorded, then retried or parked as failed.

A task can be delivered more than once: a crash between queueing and the inbox commit, a
publish retried after a lost reply, a redelivery after the visibility timeout, a re-queue by
reconciliation. Checking `processed_orders` before the work cannot stop two copies that run side
by side, so each run first claims the order (`order_runs`, a lease longer than the longest run)
and only a run holding the claim works. The claim is given up when the run ends: closed with the
`processed_orders` row in one transaction, or released with its error for the retry (held
through half the retry's countdown, so that neither a stray copy nor reconciliation runs ahead
of the back-off). A run that dies holding it leaves a lease that expires; a later delivery or
reconciliation takes over.

No database connection is held during the work itself, so many tasks can run at once.
"""

from __future__ import annotations

import enum
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import structlog

from contracts import NewOrderV1

log = structlog.get_logger(__name__)

MAX_ERROR_CHARS = 500


class OrderRuns(Protocol):
    def is_processed(self, order_id: uuid.UUID) -> bool: ...

    def claim(
        self, order_id: uuid.UUID, *, lease_seconds: float, max_attempts: int
    ) -> int | None: ...

    def give_up(self, order_id: uuid.UUID, *, max_attempts: int, error: str) -> bool: ...

    def finish(
        self,
        order_id: uuid.UUID,
        user_id: int,
        event_id: uuid.UUID | None,
        started_at: datetime,
    ) -> bool: ...

    def record_failure(
        self, order_id: uuid.UUID, *, attempt: int, error: str, final: bool, hold_seconds: float
    ) -> bool: ...

    def release(self, order_id: uuid.UUID, *, attempt: int, error: str) -> bool: ...


# Opens one unit of work on the claims and processed orders (db.session.autocommit_transaction
# in the worker).
Transaction = Callable[[], AbstractContextManager[OrderRuns]]


class Outcome(enum.Enum):
    PROCESSED = "processed"
    ALREADY_PROCESSED = "already_processed"
    HELD = "held"  # not claimed: another run holds it, or it is failed already
    RETRY = "retry"  # this run failed and its claim is free for a retry
    FAILED = "failed"  # parked: no attempts left


@dataclass(frozen=True)
class Run:
    outcome: Outcome
    attempt: int | None = None
    retry_in: float | None = None  # RETRY: seconds until the retry is due


def process(
    order: NewOrderV1,
    *,
    event_id: uuid.UUID | None,
    work_seconds: float,
    lease_seconds: float,
    max_attempts: int,
    retry_delay: Callable[[int], float],
    transaction: Transaction,
    transient: tuple[type[Exception], ...] = (),
    sleep: Callable[[float], None] = time.sleep,
) -> Run:
    """Process `order` if no other run holds it. An exception in `transient` (a database or
    broker outage) releases the claim and propagates, for the caller to wait out; any other
    is recorded on the claim and answered with RETRY after `retry_delay(attempt)` seconds, or
    FAILED after `max_attempts`."""
    order_id = str(order.order_id)
    with transaction() as runs:
        # the claim refuses a processed order itself: one statement when the order is new
        attempt = runs.claim(order.order_id, lease_seconds=lease_seconds, max_attempts=max_attempts)
        processed = attempt is None and runs.is_processed(order.order_id)
        spent = (
            attempt is None
            and not processed
            and runs.give_up(
                order.order_id,
                max_attempts=max_attempts,
                error=f"no outcome after {max_attempts} attempts (runs lost or timed out)",
            )
        )
    if processed:
        log.info("order.already_processed", order_id=order_id)
        return Run(Outcome.ALREADY_PROCESSED)
    if spent:
        log.error("order.failed", order_id=order_id, attempts=max_attempts, error="no outcome")
        return Run(Outcome.FAILED, max_attempts)
    if attempt is None:
        log.info("order.claim_held", order_id=order_id)
        return Run(Outcome.HELD)

    started_at = datetime.now(UTC)
    log.info("order.processing", order_id=order_id, attempt=attempt)
    try:
        sleep(work_seconds)
        with transaction() as runs:
            recorded = runs.finish(order.order_id, order.user_id, event_id, started_at)
    except transient as exc:
        _release(transaction, order, attempt, exc)
        raise
    except Exception as exc:
        retry_in = None if attempt >= max_attempts else retry_delay(attempt)
        return _record_failure(transaction, order, attempt, retry_in, exc)
    if not recorded:  # a run that outlived its lease finished first
        log.info("order.already_processed", order_id=order_id)
        return Run(Outcome.ALREADY_PROCESSED, attempt)
    log.info("order processed", order_id=order_id, user_id=order.user_id, attempt=attempt)
    return Run(Outcome.PROCESSED, attempt)


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]


def _record_failure(
    transaction: Transaction,
    order: NewOrderV1,
    attempt: int,
    retry_in: float | None,
    exc: Exception,
) -> Run:
    """Record the failed run; `retry_in` None: it was the last allowed attempt."""
    order_id, error = str(order.order_id), _error(exc)
    with transaction() as runs:
        held = runs.record_failure(
            order.order_id,
            attempt=attempt,
            error=error,
            final=retry_in is None,
            hold_seconds=(retry_in or 0.0) / 2,
        )
    if not held:
        log.warning("order.claim_lost", order_id=order_id, attempt=attempt, error=error)
        return Run(Outcome.HELD, attempt)
    if retry_in is None:
        log.error("order.failed", order_id=order_id, attempts=attempt, error=error, exc_info=exc)
        return Run(Outcome.FAILED, attempt)
    log.warning(
        "order.attempt_failed",
        order_id=order_id,
        attempt=attempt,
        error=error,
        retry_in_s=round(retry_in, 2),
    )
    return Run(Outcome.RETRY, attempt, retry_in)


def _release(transaction: Transaction, order: NewOrderV1, attempt: int, exc: Exception) -> None:
    """Free the claim for the retry of a transient error; when the database itself is out of
    reach this fails too, and the claim is free once its lease expires."""
    try:
        with transaction() as runs:
            runs.release(order.order_id, attempt=attempt, error=_error(exc))
    except Exception as release_error:
        log.warning(
            "order.release_failed", order_id=str(order.order_id), error=_error(release_error)
        )
