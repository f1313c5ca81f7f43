"""order_runs (a claim per order, its attempts and failure) and the inbox's event payload

Revision ID: 0003_order_runs
Revises: 0002_started_at
Create Date: 2026-12-02 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003_order_runs"
down_revision: str | None = "0002_started_at"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "order_runs",
        sa.Column("order_id", sa.Uuid(), primary_key=True),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.CheckConstraint(
            "state IN ('running', 'retrying', 'failed', 'done')", name="ck_order_runs_state"
        ),
    )
    op.create_index(
        "ix_order_runs_failed",
        "order_runs",
        ["updated_at"],
        postgresql_where=sa.text("state = 'failed'"),
    )
    # Entries taken in before this revision keep a NULL payload: reconciliation logs and
    # skips them.
    op.add_column("processed_events", sa.Column("payload", postgresql.JSONB(), nullable=True))
    op.add_column(
        "processed_events",
        sa.Column("requeued_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_processed_events_received_at", "processed_events", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_processed_events_received_at", table_name="processed_events")
    op.drop_column("processed_events", "requeued_at")
    op.drop_column("processed_events", "payload")
    op.drop_index("ix_order_runs_failed", table_name="order_runs")
    op.drop_table("order_runs")
