"""Every PROCESSOR_ variable of .env.example is a setting the service reads: none is dead."""

from __future__ import annotations

from pathlib import Path

from order_processor.config import Settings
from stack_control.env import unread_example_names

ROOT = Path(__file__).resolve().parents[4]


def test_every_env_example_variable_is_a_setting() -> None:
    assert unread_example_names(ROOT, Settings, "PROCESSOR_", "ORDER_") == set()
