"""Every ORDERS_ variable of .env.example is a setting the service reads (none is
dead), but for the two that the stack itself reads: the published port and the role's password."""

from __future__ import annotations

from pathlib import Path

from orders_service.config import Settings
from stack_control.env import example_names, settings_env_names

ROOT = Path(__file__).resolve().parents[4]
READ_BY_THE_STACK = {"ORDERS_PORT", "ORDERS_DB_PASSWORD"}


def test_every_env_example_variable_is_a_setting() -> None:
    documented = example_names(ROOT, "ORDERS_")
    assert documented - READ_BY_THE_STACK - settings_env_names(Settings) == set()
