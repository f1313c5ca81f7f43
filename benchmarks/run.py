"""`make bench`: throughput and latency figures, each against a reference measured side by side
in the same run, on this machine only. Every target is reported, never asserted.

Parts (`--only` runs some of them):
- throughput: wrk against the bench's orders-service instances, the ceiling apps (ceilings.py),
  a gateway of its own, pgbench, and /token/ against bcrypt (throughput.py);
- latency: GET with the cache on, off, with the bench's Redis frozen and stopped; /token/ for an
  unknown email against a wrong password (latency.py);
- pipeline: 201 -> Kafka delivery report at a steady rate, and 201 -> task start (pipeline.py);
- relay: a backlog of outbox rows against a bare producer (relay.py);
- processing: consumer + worker against a Celery no-op task, and 2 + 2 against 1 + 1
  (processing.py).

Everything runs on instances the bench starts itself, with the stack's settings pointed at
scratch databases (`*_bench`), a Redis, topics, a consumer group and a queue of its own. Needs
the native stack up (`make dev-up`) for PostgreSQL and Kafka. Prints a table and writes it to
benchmarks/results/latest.md, everything measured to latest.json beside it (each process's RSS
when the bench stopped it too); the processes' logs are in artifacts/bench-run/.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from typing import Any

import context
import instances
import latency
import pipeline
import processing
import relay
import throughput
from report import Figure, table

PARTS = ("throughput", "latency", "pipeline", "relay", "processing")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated: {PARTS}")
    parser.add_argument("--quick", action="store_true", help="one round, short runs: a smoke test")
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="A, B alternations per wrk pair (at most 3 for /token/, 2 for relay and processing)",
    )
    parser.add_argument("--seconds", type=float, default=4, help="length of one wrk run")
    parser.add_argument("--gets", type=int, default=300, help="latency samples per mode")
    parser.add_argument("--logins", type=int, default=40)
    parser.add_argument("--rate", type=float, default=200.0, help="orders/s for the delivery")
    parser.add_argument("--task-rate", type=float, default=50.0, help="orders/s for task start")
    parser.add_argument("--pipeline-seconds", type=float, default=20.0)
    parser.add_argument("--relay-rows", type=int, default=20_000)
    parser.add_argument("--orders", type=int, default=3_000, help="events the processor drains")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.seconds, args.gets, args.logins = 1, 4, 100, 10
        args.pipeline_seconds, args.orders = 5.0, 1_000
    unknown = set(args.only.split(",")) - set(PARTS)
    if unknown:
        parser.error(f"unknown part(s) {sorted(unknown)}; choose from {PARTS}")
    return args


def load_average() -> list[float]:
    return [float(x) for x in open("/proc/loadavg").read().split()[:3]]


def main() -> None:
    args = arguments()
    shutil.rmtree(instances.WORK, ignore_errors=True)  # the last run's logs only
    bcrypt_rounds = os.environ.get("AUTH_BCRYPT_ROUNDS", "12")
    parts: dict[str, Callable[[context.Bench], tuple[list[Figure], dict[str, Any]]]] = {
        "throughput": lambda b: merge(
            throughput.gets(b, args.rounds, args.seconds),
            throughput.posts(b, args.rounds, args.seconds),
            throughput.tokens(b, min(args.rounds, 3), args.seconds, bcrypt_rounds),
        ),
        "latency": lambda b: merge(
            latency.gets(b, args.gets), latency.login_timing(b, args.logins)
        ),
        "pipeline": lambda b: pipeline.pipeline(
            b, args.rate, args.pipeline_seconds, args.task_rate
        ),
        "relay": lambda b: relay.relay(b, min(args.rounds, 2), args.relay_rows),
        "processing": lambda b: processing.processing(b, min(args.rounds, 2), args.orders),
    }
    figures: list[Figure] = []
    details: dict[str, Any] = {}
    timings: dict[str, float] = {}
    before = load_average()
    with context.bench() as b:
        for name in (p for p in PARTS if p in args.only.split(",")):
            started = time.monotonic()
            part_figures, part_details = parts[name](b)
            figures += part_figures
            details.update(part_details)
            timings[name] = round(time.monotonic() - started, 1)
            sys.stdout.write(f"{name}: done in {timings[name]} s\n")
            sys.stdout.flush()
    report = {
        "figures": [f.as_json() for f in figures],
        "details": details,
        "rss_kb_at_stop": instances.RSS_KB,
        "run": {
            "args": vars(args),
            "seconds_per_part": timings,
            "cores": os.cpu_count(),
            "load_average_before": before,
            "load_average_after": load_average(),
            "server_core": instances.SERVER_CORE,
            "client_core": instances.CLIENT_CORE,
        },
    }
    rss = ", ".join(f"{label} {kb // 1024} MiB" for label, kb in sorted(instances.RSS_KB.items()))
    summary = (
        f"{table(figures)}\n\nRSS at stop: {rss}\n\n"
        f"load average before {before}, after {load_average()}; parts (s): {timings}\n"
    )
    instances.RESULTS.mkdir(parents=True, exist_ok=True)
    (instances.RESULTS / "latest.json").write_text(json.dumps(report, indent=2) + "\n")
    (instances.RESULTS / "latest.md").write_text(
        f"# `make bench`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n\n"
        f"{os.cpu_count()} cores; servers pinned to core {instances.SERVER_CORE}, load "
        f"generators to core {instances.CLIENT_CORE}; arguments {vars(args)}.\n\n{summary}"
    )
    sys.stdout.write(f"\n{summary}written {instances.RESULTS}/latest.md and latest.json\n")


def merge(*parts: tuple[list[Figure], dict[str, Any]]) -> tuple[list[Figure], dict[str, Any]]:
    figures: list[Figure] = []
    details: dict[str, Any] = {}
    for part_figures, part_details in parts:
        figures += part_figures
        details.update(part_details)
    return figures, details


if __name__ == "__main__":
    main()
