"""The event pipeline at a steady rate: POST /orders/ on a bench instance (orders_bench, two
uvicorn workers), the bench's relay publishing to a `bench.*` topic, the bench's consumer and
worker (processor_bench, work time 0). For each 201: the time to the outbox row's
`published_at` (set with clock_timestamp() in the transaction that follows Kafka's delivery
report) and to the task's `started_at` in processed_orders. Nothing is pinned: this is the whole
system at a rate, not a ratio."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import instances
import loops
import psycopg
from context import ORDER_BODY, Bench
from databases import libpq
from driver import Sent, send_orders
from latency import percentiles
from report import Figure
from topics import bench_topics

Times = dict[str, float]

# One API process tops out near the rate itself on this machine (POST costs 3-4 ms of a core):
# with one, the figure would be its queue, not the pipeline's latency. Two, as `replicas=2` runs
# (uvicorn's --workers default is $WEB_CONCURRENCY).
API_WORKERS = 2


def arrivals(
    b: Bench, ids: list[str], seconds: float, with_processor: bool
) -> tuple[Times, Times, Times]:
    """When each order was created (its row's created_at, taken before the INSERT), its event
    published and its task started (epoch seconds, the machine's one clock)."""
    published: Times = {}
    started: Times = {}
    written: Times = {}
    with psycopg.connect(libpq(b.orders_db)) as odb, psycopg.connect(libpq(b.processor_db)) as pdb:

        def all_in() -> bool:
            for key, at, created_at in odb.execute(
                "SELECT x.key, extract(epoch FROM x.published_at), extract(epoch FROM o.created_at)"
                " FROM outbox x JOIN orders o ON o.id::text = x.key"
                " WHERE x.key = ANY(%s) AND x.published_at IS NOT NULL",
                (ids,),
            ):
                published[key], written[key] = float(at), float(created_at)
            for order_id, at in pdb.execute(
                "SELECT order_id::text, extract(epoch FROM started_at) FROM processed_orders"
                " WHERE order_id = ANY(%s::uuid[]) AND started_at IS NOT NULL",
                (ids,),
            ):
                started[order_id] = float(at)
            odb.commit()
            pdb.commit()
            return len(published) == len(ids) and (len(started) == len(ids) or not with_processor)

        loops.poll(seconds, all_in, interval=1)
    return written, published, started


def run_at(b: Bench, rate: float, seconds: float, with_processor: bool) -> Arrivals:
    """Orders at `rate` through a bench instance and the bench's relay, and with
    `with_processor` the bench's consumer and worker too."""
    b.truncate_orders()  # nothing of another part may reach the relay
    loops.truncate_processor(b)
    with (
        bench_topics("pipeline", "dlq") as (topic, dlq),
        loops.outbox_topic(b, topic),
        instances.orders(
            "orders-pipeline", core=None, WEB_CONCURRENCY=str(API_WORKERS), **b.orders_env()
        ) as app,
        loops.relay(b),
        loops.consumer_and_worker(loops.processor_env(b, topic, dlq))
        if with_processor
        else contextlib.nullcontext(),
    ):
        orders = f"{app.url}/orders/"
        warm = send_orders(orders, b.user.authorization, ORDER_BODY, rate=5, seconds=1)
        arrivals(b, list(warm.created), 60, with_processor)  # every process connected, assigned
        sent = send_orders(orders, b.user.authorization, ORDER_BODY, rate, seconds)
        written, published, started = arrivals(b, list(sent.created), 120, with_processor)
    b.truncate_orders()
    return Arrivals(sent, written, published, started)


@dataclass
class Arrivals:
    sent: Sent
    written: Times
    published: Times
    started: Times

    def since_201(self, times: Times) -> dict[str, float]:
        return percentiles([at - self.sent.created[i] for i, at in times.items()] or [0.0])

    def summary(self, rate: float, seconds: float) -> dict[str, Any]:
        return {
            "orders_requested": int(rate * seconds),
            "answers": dict(self.sent.statuses),
            "achieved_rate_per_s": round(self.sent.rate, 1),
            "post_latency": percentiles(self.sent.latencies or [0.0]),
            "published": len(self.published),
            "task_started": len(self.started),
        }


def pipeline(
    b: Bench, rate: float, seconds: float, task_rate: float
) -> tuple[list[Figure], dict[str, Any]]:
    """At `rate` with the relay alone (the delivery reports), then at `task_rate` with the
    consumer and the worker too (the task starts): on two cores, the whole pipeline at 200/s
    would measure its own CPU contention more than its latencies."""
    delivery = run_at(b, rate, seconds, with_processor=False)
    to_report = delivery.since_201(delivery.published)
    from_row = percentiles(
        [at - delivery.written[i] for i, at in delivery.published.items()] or [0.0]
    )
    tasks = run_at(b, task_rate, seconds, with_processor=True)
    to_start = tasks.since_201(tasks.started)
    detail = {
        "delivery": {
            **delivery.summary(rate, seconds),
            "from_201": to_report,
            "from_row_created_at": from_row,
        },
        "task_start": {**tasks.summary(task_rate, seconds), "from_201": to_start},
    }
    post = detail["delivery"]["post_latency"]
    requested = int(rate * seconds)
    refused = requested - len(delivery.sent.created)
    at = f"at {delivery.sent.rate:.0f}/s, {API_WORKERS} API workers"
    task_at = f"at {tasks.sent.rate:.0f}/s"
    figures = [
        Figure.alone(f"201 -> delivery report p50 {at}", to_report["p50_ms"], "ms", "<= 20"),
        Figure.alone(f"201 -> delivery report p99 {at}", to_report["p99_ms"], "ms", "<= 100"),
        Figure.alone(f"row created_at -> delivery report p99 {at}", from_row["p99_ms"], "ms"),
        Figure.alone(f"POST latency p99 {at}", post["p99_ms"], "ms"),
        Figure.alone(f"POST answers not 201 {at}", refused, f"of {requested}"),
        Figure.alone(f"201 -> task start p50 {task_at}", to_start["p50_ms"], "ms"),
        Figure.alone(f"201 -> task start p99 {task_at}", to_start["p99_ms"], "ms"),
    ]
    return figures, {"pipeline": detail}
