"""Logging set-up for order-processor (the shared kit does the work)."""

from __future__ import annotations

from order_processor.config import Settings
from service_kit.logging import configure_logging


def setup_logging(settings: Settings) -> None:
    configure_logging("order-processor", settings.log_level, settings.log_json)
