"""Alembic migrations run against a real PostgreSQL database, down to nothing and back up."""

from pathlib import Path

from order_processor.config import get_settings
from stack_control.db import check_migrations_round_trip, db_url_for_tests

SERVICE_DIR = Path(__file__).resolve().parents[2]


def test_migrations_go_down_to_base_and_up_to_head() -> None:
    url = db_url_for_tests(get_settings().database_url)
    check_migrations_round_trip(
        SERVICE_DIR,
        "PROCESSOR_DATABASE_URL",
        url,
        {"processed_events", "processed_orders", "order_runs"},
    )
