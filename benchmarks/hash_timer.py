"""Times bcrypt checks at a given cost, one after the other: `python hash_timer.py ROUNDS N`
prints the N durations (seconds) as JSON. The bench runs it pinned to the server's core."""

from __future__ import annotations

import json
import sys
import time

import bcrypt


def main() -> None:
    rounds, checks = int(sys.argv[1]), int(sys.argv[2])
    stored = bcrypt.hashpw(b"bench-password-1", bcrypt.gensalt(rounds=rounds))
    durations = []
    for _ in range(checks):
        started = time.perf_counter()
        bcrypt.checkpw(b"bench-password-1", stored)
        durations.append(time.perf_counter() - started)
    sys.stdout.write(json.dumps(durations) + "\n")


if __name__ == "__main__":
    main()
