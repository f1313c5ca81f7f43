"""Alembic migrations run against a real PostgreSQL database, down to nothing and back up."""

from auth_service.config import get_settings
from stack_control.db import check_migrations_round_trip, db_url_for_tests
from tests.support import SERVICE_DIR


def test_migrations_go_down_to_base_and_up_to_head() -> None:
    url = db_url_for_tests(get_settings().database_url)
    check_migrations_round_trip(SERVICE_DIR, "AUTH_DATABASE_URL", url, {"users"})
