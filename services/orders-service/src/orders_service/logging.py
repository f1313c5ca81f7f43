"""Logging set-up for orders-service (the shared kit does the work)."""

from __future__ import annotations

from orders_service.config import Settings
from service_kit.logging import configure_logging


def setup_logging(settings: Settings) -> None:
    configure_logging("orders-service", settings.log_level, settings.log_json)
