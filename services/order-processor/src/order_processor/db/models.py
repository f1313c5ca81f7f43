"""order-processor tables: the consumer's inbox, the task's claims on orders and its record of
processed orders."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Index, Integer, Text, Uuid, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class ProcessedEvent(Base):
    """Inbox: one row per event id the consumer has handed to the worker, with the event itself,
    so that reconciliation can queue its task again."""

    __tablename__ = "processed_events"
    __table_args__ = (Index("ix_processed_events_received_at", "received_at"),)

    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    order_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    # The event as JSON; None for entries taken in before the inbox kept it.
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True)
    # When reconciliation last queued the task again.
    requeued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ProcessedOrder(Base):
    """One row per order the task has processed; the primary key makes a rerun a no-op."""

    __tablename__ = "processed_orders"

    order_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    event_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    processed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class OrderRun(Base):
    """The claim on an order, taken before its work: one run at a time, a failed run recorded.

    `running` with a live lease: a run is working on it; `retrying`: the last run failed (or hit
    a transient error) and a retry may claim it; `failed`: parked after its last allowed
    attempt; `done`: processed (its row is in processed_orders).
    """

    __tablename__ = "order_runs"
    __table_args__ = (
        CheckConstraint(
            "state IN ('running', 'retrying', 'failed', 'done')", name="ck_order_runs_state"
        ),
        Index("ix_order_runs_failed", "updated_at", postgresql_where=text("state = 'failed'")),
    )

    order_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    state: Mapped[str] = mapped_column(Text, nullable=False)
    # Runs that entered the work (claims taken), and those that failed with an error.
    attempts: Mapped[int] = mapped_column(Integer, nullable=False)
    failures: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    lease_until: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
