"""Order processing throughput: the bench's consumer and worker (work time 0, the stack's
concurrency) draining a topic of N `new_order` events, against a bare Celery no-op task on the
same broker with the same worker settings draining N queued tasks of the same arguments
(noop_worker.py). The two workers are pinned to the server's core; the consumer, which feeds
the worker as the bench's queue feeds the no-op, to the load generator's (with the bench's
Redis). Each rate is taken between 10 % and 90 % done, so neither start-up nor the last
stragglers count; the runs alternate. A third run has two consumers in one group (the topic's 3
partitions shared out) and two workers, unpinned: how the group scales, reported, no target."""

from __future__ import annotations

import json
import time
from typing import Any

import instances
import loops
import psycopg
import redis
from confluent_kafka import Producer
from context import Bench
from databases import libpq
from instances import BENCH_DIR, CLIENT_CORE, SERVER_CORE
from noop_worker import NOOP
from noop_worker import app as noop_app
from relay import new_order_rows
from report import Figure
from topics import bench_topics, bootstrap
from wrk import Series, alternate

NOOP_QUEUE = "bench-noop"


def middle_rate(times: list[float], count: int) -> float:
    """Completions per second between the 10 % and the 90 % marks."""
    times = sorted(times)
    if len(times) < count or count < 10:
        return 0.0
    first, last = times[count // 10], times[count * 9 // 10]
    return round((count * 9 // 10 - count // 10) / (last - first), 1) if last > first else 0.0


def processor_run(b: Bench, count: int, replicas: int = 1) -> dict[str, Any]:
    cores = {"worker_core": SERVER_CORE, "consumer_core": CLIENT_CORE} if replicas == 1 else {}
    loops.truncate_processor(b)
    redis.Redis.from_url(b.redis.db(1)).flushdb()
    with bench_topics("processing", "dlq") as (topic, dlq):
        producer = Producer({"bootstrap.servers": bootstrap(), "acks": "all"})
        for _, _, key, payload, headers in new_order_rows(topic, b.user.id, count):
            producer.produce(
                topic,
                key=key.encode(),
                value=payload.encode(),
                headers=[(k, v.encode()) for k, v in json.loads(headers).items()],
            )
        producer.flush(30)
        with (
            loops.consumer_and_worker(
                loops.processor_env(b, topic, dlq), replicas=replicas, **cores
            ),
            psycopg.connect(libpq(b.processor_db), autocommit=True) as db,
        ):

            def processed() -> bool:
                row = db.execute("SELECT count(*) FROM processed_orders").fetchone()
                return bool(row and row[0] >= count)

            done = loops.poll(300, processed, interval=0.5)
            times = [
                float(t)
                for (t,) in db.execute(
                    "SELECT extract(epoch FROM processed_at) FROM processed_orders"
                )
            ]
    return {"rps": middle_rate(times, count), "processed": len(times), "complete": done}


def noop_run(b: Bench, count: int) -> dict[str, Any]:
    broker = b.redis.db(1)
    queue = redis.Redis.from_url(broker)
    queue.flushdb()
    order = json.loads(new_order_rows("-", b.user.id, 1)[0][3])
    with noop_app.connection_for_write(broker) as connection:
        for _ in range(count):
            noop_app.send_task(
                NOOP,
                kwargs={
                    "order": order["data"],
                    "event_id": order["event_id"],
                    "correlation_id": order["correlation_id"],
                },
                queue=NOOP_QUEUE,
                connection=connection,
            )
    worker = [str(loops.BIN / "celery"), "-A", "noop_worker", "worker", "--loglevel", "WARNING"]
    worker += ["--hostname", "bench-noop@%h"]
    env = {"BENCH_BROKER_URL": broker, "BENCH_QUEUE": NOOP_QUEUE, "PYTHONPATH": str(BENCH_DIR)}
    marks: list[float] = []
    with instances.process("noop-worker", worker, cwd=BENCH_DIR, env=env, core=SERVER_CORE):
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            left = int(queue.llen(NOOP_QUEUE)) + int(queue.hlen("unacked"))
            now = time.time()
            marks.extend([now] * (count - left - len(marks)))
            if left == 0:
                break
            time.sleep(0.05)
    return {
        "rps": middle_rate(marks, count),
        "processed": len(marks),
        "complete": len(marks) == count,
    }


def processing(b: Bench, rounds: int, count: int) -> tuple[list[Figure], dict[str, Any]]:
    series: dict[str, Series] = alternate(
        {
            "consumer_worker": lambda: processor_run(b, count),
            "celery_noop": lambda: noop_run(b, count),
            "consumer_worker_x2": lambda: processor_run(b, count, replicas=2),
        },
        rounds,
        lambda: time.sleep(1),
    )
    loops.truncate_processor(b)
    figure = Figure(
        "consumer + worker (work 0 s)",
        series["consumer_worker"].median,
        "orders/s",
        "Celery no-op task",
        series["celery_noop"].median,
        ">= 0.5",
    )
    # scale, not a target: on two cores a second consumer and worker share the same CPUs
    scale = Figure(
        "consumer group: 2 consumers + 2 workers",
        series["consumer_worker_x2"].median,
        "orders/s",
        "1 consumer + 1 worker",
        series["consumer_worker"].median,
    )
    return [figure, scale], {"processing": {name: s.summary() for name, s in series.items()}}
