"""Stop and start one process of the running stack, for fault tests.

The controller is the native supervisor (`infra/native/stack.py`) unless STACK_CONTROLLER=compose,
in which case `docker compose stop/start` is used. Names: postgres, redis, kafka, gateway, auth,
orders, relay, processor, consumer, worker.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

NAMES = (
    "postgres",
    "redis",
    "kafka",
    "gateway",
    "auth",
    "orders",
    "relay",
    "processor",
    "consumer",
    "worker",
)


def repo_root() -> Path:
    start = Path(os.environ.get("STACK_ROOT", Path.cwd())).resolve()
    for folder in (start, *start.parents):
        if (folder / "infra" / "native" / "stack.py").exists():
            return folder
    raise RuntimeError("cannot find the repository root (set STACK_ROOT)")


def _command(action: str, name: str) -> list[str]:
    if name not in NAMES:
        raise ValueError(f"unknown process {name!r}")
    if os.environ.get("STACK_CONTROLLER", "native") == "compose":
        if action == "start":  # and wait until its healthcheck passes, as the native one does
            return ["docker", "compose", "up", "--detach", "--wait", name]
        return ["docker", "compose", action, name]
    return [sys.executable, str(repo_root() / "infra" / "native" / "stack.py"), action, name]


def kill(name: str) -> None:
    """SIGKILL `name`, as a crash would; its supervisor (or compose's restart policy) brings it
    back."""
    if os.environ.get("STACK_CONTROLLER", "native") == "compose":
        command = ["docker", "compose", "kill", "-s", "KILL", name]
    else:
        command = _command("kill", name)
    subprocess.run(command, check=True, cwd=repo_root(), capture_output=True)


def stop(name: str) -> None:
    subprocess.run(_command("stop", name), check=True, cwd=repo_root(), capture_output=True)


def start(name: str) -> None:
    """Start `name` and wait until it is ready again."""
    subprocess.run(_command("start", name), check=True, cwd=repo_root(), capture_output=True)


def log_text(name: str) -> str | None:
    """The log of one process of the native stack (None under compose)."""
    if os.environ.get("STACK_CONTROLLER", "native") == "compose":
        return None
    stack_dir = Path(os.environ.get("STACK_DIR", repo_root() / ".stack"))
    path = stack_dir / "logs" / f"{name}.log"
    return path.read_text(errors="replace") if path.exists() else ""


@contextmanager
def stopped(name: str) -> Iterator[None]:
    """Stop `name` for the duration of the block; it is started again even if the block fails."""
    stop(name)
    try:
        yield
    finally:
        start(name)
