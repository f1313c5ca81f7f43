"""All SQL of order-processor: the consumer's inbox, the task's claims and processed orders, and
reconciliation's view of the inbox.

Nothing here commits: each unit of work (`db.session.transaction`) does, when its block ends, or
each statement does by itself (the task's, `db.session.autocommit_transaction`).
Leases are compared with `clock_timestamp()`, the database's clock at the statement, not `now()`
(the transaction's start): a claim that waited on another's row lock sees the lease as it is
when it gets the row, and every replica reads one clock.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Connection,
    DateTime,
    Executable,
    Interval,
    Uuid,
    bindparam,
    exists,
    func,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from order_processor.db.models import OrderRun, ProcessedEvent, ProcessedOrder

# pg_advisory_xact_lock key of the reconciliation pass: one replica at a time.
RECONCILE_LOCK = 7_203_114_501
# States a run may still claim (once its lease has expired).
_CLAIMABLE = ("running", "retrying")


def _now() -> ColumnElement[datetime]:
    return func.clock_timestamp(type_=DateTime(timezone=True))


def _in(seconds: float) -> ColumnElement[datetime]:
    return _now() + timedelta(seconds=seconds)


def _ago(seconds: float) -> ColumnElement[datetime]:
    return _now() - timedelta(seconds=seconds)


# The parameters of the statements below are not named after columns: an UPDATE would take
# such a name for a value to SET.


def _claim_statement() -> Executable:
    """The claim: the order's run row inserted, or taken over once its lease expired; nothing
    when the order is processed, so that the common case costs one statement."""
    order_id = bindparam("order", type_=Uuid)
    lease_until = _now() + bindparam("lease", type_=Interval)
    unprocessed = select(
        order_id, literal("running"), literal(1), literal(0), lease_until, _now()
    ).where(~exists().where(ProcessedOrder.order_id == order_id))
    columns = ["order_id", "state", "attempts", "failures", "lease_until", "updated_at"]
    return (
        insert(OrderRun)
        .from_select(columns, unprocessed)
        .on_conflict_do_update(
            index_elements=[OrderRun.order_id],
            set_={
                "state": "running",
                "attempts": OrderRun.attempts + 1,
                "lease_until": lease_until,
                "updated_at": _now(),
            },
            where=OrderRun.state.in_(_CLAIMABLE)
            & (OrderRun.lease_until < _now())
            & (OrderRun.attempts < bindparam("max_attempts")),
        )
        .returning(OrderRun.attempts)
    )


def _finish_statement() -> Executable:
    """The order's processed row added (unless there already) and its claim closed."""
    order_id = bindparam("order", type_=Uuid)
    closed = (
        update(OrderRun)
        .where(OrderRun.order_id == order_id)
        .values(state="done", lease_until=_now(), updated_at=_now())
        .cte("closed")
    )
    inserted = (
        insert(ProcessedOrder)
        .values(
            order_id=order_id,
            user_id=bindparam("user"),
            event_id=bindparam("event", type_=Uuid),
            started_at=bindparam("started", type_=DateTime(timezone=True)),
        )
        .on_conflict_do_nothing(index_elements=[ProcessedOrder.order_id])
        .returning(ProcessedOrder.order_id)
        .cte("inserted")
    )
    return select(exists(select(inserted))).add_cte(closed)


# The task's two statements of every run, built once: they run for every order, and building
# one (and its cache key) costs more than the round trip.
_CLAIM = _claim_statement()
_FINISH = _finish_statement()


class InboxEntry(NamedTuple):
    event_id: uuid.UUID
    order_id: uuid.UUID
    payload: dict[str, Any]


class StaleEvent(NamedTuple):
    event_id: uuid.UUID
    order_id: uuid.UUID
    payload: dict[str, Any] | None


class ProcessorRepository:
    """Over an ORM session (a transaction of several statements) or a Core connection (the
    task's statements, each committing by itself). `failed_runs` needs the session."""

    def __init__(self, session: Session | Connection) -> None:
        self.session = session
        # The task's statements are Core ones: on a session they skip its ORM execution path.
        self.core = session.connection() if isinstance(session, Session) else session

    # --- the consumer's inbox

    def record_events(self, entries: Sequence[InboxEntry]) -> set[uuid.UUID]:
        """Add the entries to the inbox in one statement; the ids of those added (an id there
        already, a redelivery, is not)."""
        if not entries:
            return set()
        inserted = self.session.execute(
            insert(ProcessedEvent)
            .values([entry._asdict() for entry in entries])
            .on_conflict_do_nothing(index_elements=[ProcessedEvent.event_id])
            .returning(ProcessedEvent.event_id)
        )
        return set(inserted.scalars())

    # --- the task: claim, work, record

    def is_processed(self, order_id: uuid.UUID) -> bool:
        done = self.session.scalar(
            select(ProcessedOrder.order_id).where(ProcessedOrder.order_id == order_id)
        )
        return done is not None

    def claim(self, order_id: uuid.UUID, *, lease_seconds: float, max_attempts: int) -> int | None:
        """Take the order for one run and return its attempt number; None once it is processed,
        while another run holds a live lease, or once it is failed, done, or out of attempts.
        The processed check is part of the statement (the common case costs one round trip).
        Two runs claiming at once meet on the primary key: the second waits for the first to
        commit, then finds its lease live."""
        params = {
            "order": order_id,
            "lease": timedelta(seconds=lease_seconds),
            "max_attempts": max_attempts,
        }
        attempt = self.core.execute(_CLAIM, params).scalar_one_or_none()
        return None if attempt is None else int(attempt)

    def give_up(self, order_id: uuid.UUID, *, max_attempts: int, error: str) -> bool:
        """Park an order as failed whose attempts are spent without an outcome (its runs were
        lost with their workers, or timed out); False if that is not its case."""
        parked = self.session.execute(
            update(OrderRun)
            .where(
                OrderRun.order_id == order_id,
                OrderRun.state.in_(_CLAIMABLE),
                OrderRun.lease_until < _now(),
                OrderRun.attempts >= max_attempts,
            )
            # the last error a run recorded says more than that no run finished
            .values(
                state="failed",
                last_error=func.coalesce(OrderRun.last_error, error),
                updated_at=_now(),
            )
            .returning(OrderRun.order_id)
        ).scalar_one_or_none()
        return parked is not None

    def finish(
        self,
        order_id: uuid.UUID,
        user_id: int,
        event_id: uuid.UUID | None,
        started_at: datetime,
    ) -> bool:
        """Add the order's row and close its claim, in one statement; False when the row was
        there already (the primary key decides)."""
        params = {"order": order_id, "user": user_id, "event": event_id, "started": started_at}
        return bool(self.core.execute(_FINISH, params).scalar())

    def record_failure(
        self, order_id: uuid.UUID, *, attempt: int, error: str, final: bool, hold_seconds: float
    ) -> bool:
        """Record the failed run and free the order for its retry `hold_seconds` from now (or
        park it as failed when `final`); False when the run no longer holds the claim (it
        outlived its lease and another run took over)."""
        state = "failed" if final else "retrying"
        return self._end_run(order_id, attempt, error, state=state, failed=True, hold=hold_seconds)

    def release(self, order_id: uuid.UUID, *, attempt: int, error: str) -> bool:
        """Free the order at once after a transient error; not counted as a failure."""
        return self._end_run(order_id, attempt, error, state="retrying", failed=False, hold=0.0)

    def _end_run(
        self,
        order_id: uuid.UUID,
        attempt: int,
        error: str,
        *,
        state: str,
        failed: bool,
        hold: float,
    ) -> bool:
        ended = self.session.execute(
            update(OrderRun)
            .where(
                OrderRun.order_id == order_id,
                OrderRun.attempts == attempt,
                OrderRun.state == "running",
            )
            .values(
                state=state,
                failures=OrderRun.failures + int(failed),
                last_error=error,
                lease_until=_in(hold),
                updated_at=_now(),
            )
            .returning(OrderRun.order_id)
        ).scalar_one_or_none()
        return ended is not None

    def failed_runs(self, limit: int) -> Sequence[OrderRun]:
        """Orders parked as failed, the latest first (the ORM objects: on a session only)."""
        if not isinstance(self.session, Session):
            raise TypeError("failed_runs loads ORM objects: it needs a Session")
        return self.session.scalars(
            select(OrderRun)
            .where(OrderRun.state == "failed")
            .order_by(OrderRun.updated_at.desc())
            .limit(limit)
        ).all()

    # --- reconciliation

    def lock_reconciliation(self) -> bool:
        """Take the pass's lock for this transaction; False while another replica holds it."""
        return bool(
            self.session.scalar(
                text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": RECONCILE_LOCK}
            )
        )

    def stale_events(self, *, older_than_seconds: float, limit: int) -> list[StaleEvent]:
        """Inbox entries older than `older_than_seconds` whose order has no processed row, is
        not failed and has no live run, and that were not queued again within that time; the
        oldest first. An entry without a payload is returned once (to be logged), never again."""
        run = select(OrderRun.order_id).where(
            OrderRun.order_id == ProcessedEvent.order_id,
            (OrderRun.state.in_(("failed", "done"))) | (OrderRun.lease_until >= _now()),
        )
        processed = select(ProcessedOrder.order_id).where(
            ProcessedOrder.order_id == ProcessedEvent.order_id
        )
        rows = self.session.execute(
            select(ProcessedEvent.event_id, ProcessedEvent.order_id, ProcessedEvent.payload)
            .where(
                ProcessedEvent.received_at < _ago(older_than_seconds),
                ProcessedEvent.requeued_at.is_(None)
                | (
                    ProcessedEvent.payload.is_not(None)
                    & (ProcessedEvent.requeued_at < _ago(older_than_seconds))
                ),
                ~exists(processed),
                ~exists(run),
            )
            .order_by(ProcessedEvent.received_at)
            .limit(limit)
        ).all()
        return [StaleEvent(*row) for row in rows]

    def mark_requeued(self, event_id: uuid.UUID) -> None:
        self.session.execute(
            update(ProcessedEvent)
            .where(ProcessedEvent.event_id == event_id)
            .values(requeued_at=_now())
        )
