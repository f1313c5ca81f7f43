"""Stop and start one process of the running stack, for fault tests.

The controller is the native supervisor (`python infra/native/stack`) unless
STACK_CONTROLLER=compose, in which case `docker compose stop/start/kill` is used, through
`infra/docker/compose.sh` (the engine and images that `make docker-engine` and
`make docker-images` chose). The names are those of `stack_control.processes`: postgres, redis,
kafka, auth, orders, relay, processor, consumer, worker, gateway.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from stack_control.topology import Topology, current, is_name

# The native stack's command line: a package run as a folder (`infra/native/stack/__main__.py`).
NATIVE_STACK = Path("infra") / "native" / "stack"


def repo_root() -> Path:
    start = Path(os.environ.get("STACK_ROOT", Path.cwd())).resolve()
    for folder in (start, *start.parents):
        if (folder / NATIVE_STACK / "__main__.py").exists():
            return folder
    raise RuntimeError("cannot find the repository root (set STACK_ROOT)")


def under_compose() -> bool:
    return os.environ.get("STACK_CONTROLLER", "native") == "compose"


def current_topology() -> Topology:
    """The running stack's topology (the one its `up` recorded)."""
    return current(os.environ, repo_root())


def processes(name: str) -> tuple[str, ...]:
    """The processes (compose: the services) a name means; an unknown name is refused."""
    if not is_name(name):
        raise ValueError(f"unknown process {name!r}")
    return current_topology().resolve(name)


def stack_dir() -> Path:
    return Path(os.environ.get("STACK_DIR", repo_root() / ".stack"))


def compose(*args: str) -> list[str]:
    """A `docker compose` command line for the running compose stack."""
    return ["bash", str(repo_root() / "infra" / "docker" / "compose.sh"), *args]


def _command(action: str, name: str) -> list[str]:
    if not is_name(name):
        raise ValueError(f"unknown process {name!r}")
    if under_compose():
        services = processes(name)
        if action == "start":  # and wait until its healthcheck passes, as the native one does
            return compose("up", "--detach", "--wait", "--wait-timeout", "120", *services)
        return compose(action, *services)
    return [sys.executable, str(repo_root() / NATIVE_STACK), action, name]


def kill(name: str, *, stay_down: bool = False) -> None:
    """SIGKILL `name`, as a crash would; its supervisor (or compose's restart policy) brings it
    back, unless `stay_down`: then it stays stopped until `start(name)`.

    Under compose the container's first process is killed from the host: `docker kill` would
    count as a deliberate stop, after which the restart policy does not restart the container.
    """
    services = processes(name)
    if not under_compose():
        flags = ["--stay-down"] if stay_down else []
        command = [sys.executable, str(repo_root() / NATIVE_STACK), "kill", *flags, name]
        subprocess.run(command, check=True, cwd=repo_root(), capture_output=True)
        return
    for service in services:
        pid = docker("inspect", "-f", "{{.State.Pid}}", container_id(service))
        os.kill(int(pid), signal.SIGKILL)
    if stay_down:
        stop(name)


def container_id(service: str) -> str:
    """The running container of a compose service."""
    return subprocess.run(
        compose("ps", "-q", service), check=True, cwd=repo_root(), capture_output=True, text=True
    ).stdout.strip()


def docker(*args: str) -> str:
    """The output of a `docker` command (the engine of DOCKER_HOST)."""
    return subprocess.run(
        ["docker", *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def stop(name: str) -> None:
    subprocess.run(_command("stop", name), check=True, cwd=repo_root(), capture_output=True)


def start(name: str) -> None:
    """Start `name` and wait until it is ready again."""
    subprocess.run(_command("start", name), check=True, cwd=repo_root(), capture_output=True)


def log_text(name: str) -> str:
    """Everything one process of the stack (every replica of a role) has logged so far."""
    names = processes(name)
    if under_compose():
        result = subprocess.run(
            compose("logs", "--no-color", "--no-log-prefix", *names),
            check=True,
            cwd=repo_root(),
            capture_output=True,
            text=True,
            errors="replace",
        )
        return result.stdout
    paths = [stack_dir() / "logs" / f"{process}.log" for process in names]
    return "".join(path.read_text(errors="replace") for path in paths if path.exists())


@contextmanager
def stopped(name: str) -> Iterator[None]:
    """Stop `name` for the duration of the block; it is started again even if the block fails."""
    stop(name)
    try:
        yield
    finally:
        start(name)
