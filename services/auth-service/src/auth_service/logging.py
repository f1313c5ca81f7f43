"""Logging set-up for auth-service (the shared kit does the work)."""

from __future__ import annotations

from auth_service.config import Settings
from service_kit.logging import configure_logging


def setup_logging(settings: Settings) -> None:
    configure_logging("auth-service", settings.log_level, settings.log_json)
