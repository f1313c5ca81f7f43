"""Liveness of a loop that serves no HTTP (the outbox relay, the Kafka consumer).

The loop calls `beat()` on every turn, which touches a file at most once a second; a container
healthcheck, `python -m service_kit.heartbeat FILE MAX_AGE_SECONDS`, fails when the file is older
than that: the loop is stuck (a hung dependency, a deadlock), not merely waiting or backing off,
which still turns the loop. Without a file configured, `beat()` does nothing.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


class Heartbeat:
    def __init__(self, path: Path | None, every_seconds: float = 1.0) -> None:
        self.path = path
        self.every = every_seconds
        self._last = 0.0

    def beat(self) -> None:
        now = time.monotonic()
        if self.path is None or now - self._last < self.every:
            return
        self.path.touch()
        self._last = now


def age_seconds(path: Path) -> float | None:
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return None


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: python -m service_kit.heartbeat FILE MAX_AGE_SECONDS\n")
        return 2
    age = age_seconds(Path(argv[0]))
    if age is None:
        sys.stderr.write(f"{argv[0]}: no heartbeat yet\n")
        return 1
    if age > float(argv[1]):
        sys.stderr.write(f"{argv[0]}: last heartbeat {age:.0f} s ago\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
