"""Running a set-up command with the stack's environment, and waiting for a probe."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from .settings import Settings


def run(settings: Settings, cmd: list[str], cwd: Path | None = None) -> None:
    """Run `cmd` to completion; on failure, stop the command with its output."""
    result = subprocess.run(
        cmd,
        cwd=cwd or settings.root,
        env=settings.env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}")


def wait_for(settings: Settings, name: str, probe: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(0.25)
    sys.exit(f"{name} was not ready within {seconds:.0f} s; see {settings.logs}")
