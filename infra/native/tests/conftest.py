from __future__ import annotations

from pathlib import Path

import pytest

from stack import postgres
from stack.postgres import Postgres
from stack.programs import Program, build
from stack.settings import Settings
from tests.support import moved_settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return moved_settings(tmp_path)


@pytest.fixture
def programs(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> dict[str, Program]:
    """The program table, PostgreSQL's binaries named whether or not it is installed here."""
    monkeypatch.setattr(postgres, "pg_bin", lambda tool: f"/usr/lib/postgresql/16/bin/{tool}")
    return build(settings, Postgres(settings))
