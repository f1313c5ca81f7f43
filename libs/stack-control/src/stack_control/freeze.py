"""Freeze a process of the running stack: alive, holding its sockets, answering nothing.

A hung server is not a stopped one: a stopped server refuses connections at once, a frozen one
accepts them (the kernel completes the handshake) and never replies, which is what timeouts and
circuit breakers exist for. Natively the process and every descendant get SIGSTOP (PostgreSQL's
backends too), under compose the container is paused (the cgroup freezer).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from stack_control import compose, processes, repo_root, stack_dir, under_compose


def _native_pid(name: str) -> int:
    root = repo_root()
    conf = stack_dir() / "supervisord.conf"
    supervisorctl = [str(root / ".venv/bin/supervisorctl"), "-c", str(conf)]
    result = subprocess.run(
        [*supervisorctl, "pid", name],
        capture_output=True,
        text=True,
        check=False,
    )
    pid = result.stdout.strip()
    if not pid.isdigit() or pid == "0":
        raise RuntimeError(f"{name} is not running: {pid or result.stderr.strip()}")
    return int(pid)


def _tree(pid: int) -> list[int]:
    """`pid` and all its descendants, parents first. Not just its process group: PostgreSQL's
    backends each call setsid(), so the postmaster's group holds the postmaster alone."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, queue = [], [pid]
    while queue:
        current = queue.pop(0)
        found.append(current)
        queue.extend(children.get(current, []))
    return found


def _signal_tree(name: str, signum: signal.Signals) -> None:
    for pid in _tree(_native_pid(name)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def _suspend(name: str, compose_verb: str, signum: signal.Signals) -> None:
    """Every replica `name` means (`stack_control.topology`)."""
    names = processes(name)
    if under_compose():
        command = compose(compose_verb, *names)
        subprocess.run(command, check=True, cwd=repo_root(), capture_output=True)
    else:
        for process in names:
            _signal_tree(process, signum)


def freeze(name: str) -> None:
    """Suspend `name` (every process of it) until `thaw`."""
    _suspend(name, "pause", signal.SIGSTOP)


def thaw(name: str) -> None:
    """Let a frozen `name` run again, where it stopped."""
    _suspend(name, "unpause", signal.SIGCONT)


@contextmanager
def frozen(name: str) -> Iterator[None]:
    """`name` frozen for the duration of the block; thawed even if the block fails."""
    freeze(name)
    try:
        yield
    finally:
        thaw(name)
