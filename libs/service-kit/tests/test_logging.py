"""Logging: one JSON line per event at or above the level, with the service and the correlation
id; a line below the level costs no processor (services log per request and per task)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest
import structlog

from service_kit.logging import bind_correlation_id, clear_correlation_id, configure_logging


@pytest.fixture
def stamped(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The events the timestamp processor saw: it runs once a line is kept."""
    seen: list[str] = []
    original = structlog.processors.TimeStamper.__call__

    def counting(
        self: Any, logger: Any, name: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        seen.append(str(event.get("event")))
        return original(self, logger, name, event)

    monkeypatch.setattr(structlog.processors.TimeStamper, "__call__", counting)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield seen
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()
    clear_correlation_id()


def test_a_line_below_the_level_is_dropped_before_any_processor(
    stamped: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("svc", "WARNING", json_logs=True)
    log = structlog.get_logger("svc.test")
    log.info("below.the_level", order_id="o-1")
    assert stamped == []
    assert capsys.readouterr().err == ""


def test_a_line_at_the_level_carries_the_service_and_the_correlation_id(
    stamped: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("svc", "INFO", json_logs=True)
    bind_correlation_id("cid-1")
    structlog.get_logger("svc.test").info("at.the_level", order_id="o-2")
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert stamped == ["at.the_level"]
    assert line["event"] == "at.the_level"
    assert line["order_id"] == "o-2"
    assert line["service"] == "svc"
    assert line["level"] == "info"
    assert line["correlation_id"] == "cid-1"
    assert "timestamp" in line
