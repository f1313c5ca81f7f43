"""One list of process names: the servers, then the services, each once; the controller
refuses any other name before it runs anything."""

from __future__ import annotations

import pytest

import stack_control
from stack_control.processes import NAMES, SERVERS, SERVICES


def test_servers_then_services_each_named_once() -> None:
    assert NAMES == SERVERS + SERVICES
    assert len(set(NAMES)) == len(NAMES)


@pytest.mark.parametrize("action", ["stop", "start", "kill"])
def test_an_unknown_name_is_refused(action: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STACK_CONTROLLER", "native")
    with pytest.raises(ValueError, match="unknown process 'nginx'"):
        getattr(stack_control, action)("nginx")


def test_the_native_controller_runs_the_stack_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STACK_CONTROLLER", "native")
    command = stack_control._command("stop", "redis")
    assert command[1:] == [str(stack_control.repo_root() / "infra/native/stack"), "stop", "redis"]
    assert (stack_control.repo_root() / "infra/native/stack/__main__.py").is_file()
