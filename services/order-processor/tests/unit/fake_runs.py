"""order_runs and processed_orders in memory, for the processing use case's unit tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime


@dataclass
class ClaimRow:
    state: str
    attempts: int
    lease_until: float
    failures: int = 0
    last_error: str | None = None


class FakeRuns:
    """order_runs and processed_orders in memory, with the repository's rules; `now` is the
    database clock."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.processed: dict[uuid.UUID, tuple[int, uuid.UUID | None]] = {}
        self.claims: dict[uuid.UUID, ClaimRow] = {}
        self.open_transactions = 0

    def is_processed(self, order_id: uuid.UUID) -> bool:
        return order_id in self.processed

    def claim(self, order_id: uuid.UUID, *, lease_seconds: float, max_attempts: int) -> int | None:
        if order_id in self.processed:
            return None
        row = self.claims.get(order_id)
        if row is None:
            self.claims[order_id] = ClaimRow("running", 1, self.now + lease_seconds)
            return 1
        free = row.state in ("running", "retrying") and row.lease_until < self.now
        if not free or row.attempts >= max_attempts:
            return None
        row.state, row.attempts = "running", row.attempts + 1
        row.lease_until = self.now + lease_seconds
        return row.attempts

    def give_up(self, order_id: uuid.UUID, *, max_attempts: int, error: str) -> bool:
        row = self.claims.get(order_id)
        if row is None or row.state not in ("running", "retrying") or row.lease_until >= self.now:
            return False
        if row.attempts < max_attempts:
            return False
        row.state, row.last_error = "failed", error
        return True

    def finish(
        self, order_id: uuid.UUID, user_id: int, event_id: uuid.UUID | None, started_at: datetime
    ) -> bool:
        self.claims[order_id].state = "done"
        if order_id in self.processed:
            return False
        self.processed[order_id] = (user_id, event_id)
        return True

    def record_failure(
        self, order_id: uuid.UUID, *, attempt: int, error: str, final: bool, hold_seconds: float
    ) -> bool:
        row = self.claims[order_id]
        if row.attempts != attempt or row.state != "running":
            return False
        row.state = "failed" if final else "retrying"
        row.failures += 1
        row.last_error, row.lease_until = error, self.now + hold_seconds
        return True

    def release(self, order_id: uuid.UUID, *, attempt: int, error: str) -> bool:
        row = self.claims[order_id]
        if row.attempts != attempt or row.state != "running":
            return False
        row.state, row.last_error, row.lease_until = "retrying", error, self.now
        return True

    @contextmanager
    def transaction(self) -> Iterator[FakeRuns]:
        self.now += 0.001  # the clock moves on between statements, as clock_timestamp() does
        self.open_transactions += 1
        try:
            yield self
        finally:
            self.open_transactions -= 1
