"""wrk runs (`/usr/bin/wrk`, one thread, pinned to the client's core) and the alternation that
makes a pair of them comparable: A, B, B, A, A, B, ... in short runs, so that drift on a shared
machine (a slow spell of the host, a checkpoint of the stack's PostgreSQL) hits both."""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from instances import BENCH_DIR, CLIENT_CORE, pinned

SCRIPT = BENCH_DIR / "lua" / "request.lua"
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass(frozen=True)
class Load:
    """What one wrk run sends: the request (the Lua script reads it from the environment) and
    how hard."""

    connections: int = 32
    seconds: float = 10
    method: str = "GET"
    authorization: str = ""
    body: str = ""
    content_type: str = "application/json"
    paths: tuple[str, ...] = ()  # requested in turn instead of the URL's path (an id pool)
    timeout_seconds: int = 10  # wrk's default (2 s) would count a slow bcrypt answer as lost


def wrk(url: str, load: Load) -> dict[str, Any]:
    """One run: requests/s, the count of answers that were not 2xx/3xx, socket errors, p50/p99."""
    options = f"-t1 -c{load.connections} -d{load.seconds}s --timeout={load.timeout_seconds}s"
    command = [shutil.which("wrk") or "/usr/bin/wrk", *options.split(), "--latency"]
    command += ["-s", str(SCRIPT), url]
    env = {
        **os.environ,
        "BENCH_METHOD": load.method,
        "BENCH_AUTHORIZATION": load.authorization,
        "BENCH_BODY": load.body,
        "BENCH_CONTENT_TYPE": load.content_type,
        "BENCH_PATHS": " ".join(load.paths),
    }
    out = subprocess.run(
        pinned(CLIENT_CORE, command), capture_output=True, text=True, check=True, env=env
    ).stdout
    return parse(out)


def parse(out: str) -> dict[str, Any]:
    def number(pattern: str) -> float:
        found = re.search(pattern, out)
        return float(found.group(1)) if found else 0.0

    def millis(percent: str) -> float:
        found = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.MULTILINE)
        return round(float(found.group(1)) * UNITS[found.group(2)], 3) if found else 0.0

    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": number(r"Requests/sec:\s+([\d.]+)"),
        "requests": int(number(r"(\d+) requests in")),
        "non_2xx": int(number(r"Non-2xx or 3xx responses: (\d+)")),
        "socket_errors": sum(int(n) for n in errors.groups()) if errors else 0,
        "p50_ms": millis("50"),
        "p99_ms": millis("99"),
    }


@dataclass
class Series:
    """The runs of one side of a comparison."""

    runs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def median(self) -> float:
        return round(statistics.median(r["rps"] for r in self.runs), 1) if self.runs else 0.0

    @property
    def spread(self) -> float:
        """(max - min) / median of the runs: how much the machine moved under this side."""
        rates = [r["rps"] for r in self.runs]
        return round((max(rates) - min(rates)) / self.median, 3) if self.median else 0.0

    def summary(self) -> dict[str, Any]:
        return {"median_rps": self.median, "spread": self.spread, "runs": self.runs}


def alternate(
    sides: Mapping[str, Callable[[], dict[str, Any]]], rounds: int, between: Callable[[], None]
) -> dict[str, Series]:
    """Each side once per round, the order turned by one place every round (no side always runs
    right after the same other, e.g. after the one that inserts the most); `between` runs before
    each run (a pause, a truncate) so no run inherits the previous one's backlog."""
    results = {name: Series() for name in sides}
    names = list(sides)
    for round_ in range(rounds):
        turn = round_ % len(names)
        for name in names[turn:] + names[:turn]:
            between()
            results[name].runs.append(sides[name]())
    return results


def ratio(numerator: float, denominator: float) -> float:
    return round(numerator / denominator, 3) if denominator else 0.0
