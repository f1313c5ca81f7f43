"""The program table: the names stack_control's fault tests use, in start order, and only the
ports the settings give."""

from __future__ import annotations

import pytest

from stack import programs as table
from stack.postgres import Postgres
from stack.programs import Program
from stack.settings import Settings
from stack_control import topology
from stack_control.processes import NAMES, SERVERS, SERVICES
from tests.support import DEFAULT_PORTS, MOVED_PORTS


def test_the_table_has_stack_controls_names_servers_first(programs: dict[str, Program]) -> None:
    assert tuple(programs) == NAMES == SERVERS + SERVICES
    assert set(SERVERS).isdisjoint(SERVICES)


def test_a_table_that_drifts_from_stack_controls_names_is_refused(
    settings: Settings, programs: dict[str, Program], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(topology, "SERVICES", (*SERVICES, "scheduler"))
    with pytest.raises(RuntimeError, match=r"differ from stack_control\.processes"):
        table.build(settings, Postgres(settings))


def test_each_listener_uses_its_configured_port(
    settings: Settings, programs: dict[str, Program]
) -> None:
    expected = {
        "postgres": f"-p {MOVED_PORTS['POSTGRES_PORT']} ",
        "redis": f"--port {MOVED_PORTS['REDIS_PORT']} ",
        "auth": f"--port {MOVED_PORTS['AUTH_PORT']} ",
        "orders": f"--port {MOVED_PORTS['ORDERS_PORT']} ",
        "processor": f"--port {MOVED_PORTS['PROCESSOR_PORT']} ",
    }
    for name, fragment in expected.items():
        assert fragment in programs[name].command, name


def test_no_command_names_a_default_port(programs: dict[str, Program]) -> None:
    assert [p.name for p in programs.values() if DEFAULT_PORTS.search(p.command)] == []


def test_not_as_root_every_program_runs_as_this_user_through_exec(
    programs: dict[str, Program],
) -> None:
    assert [p.name for p in programs.values() if p.user] == []


def test_postgres_stops_on_sigint_a_fast_shutdown(programs: dict[str, Program]) -> None:
    assert programs["postgres"].stop_signal == "INT"
