"""The relay against a backlog: 20,000 outbox rows (valid `new_order` events for a `bench.*`
topic) committed at once into orders_bench, the bench's relay (the stack's settings, its own
database) already running; the time from the commit to the last row's `published_at`. The
reference: a bare confluent-kafka producer, with the relay's own producer settings
(`make_producer`), sending the same 20,000 messages and flushing once (producer_ceiling.py).
Both pinned to the server's core, alternated."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import loops
import psycopg
from context import Bench
from databases import libpq
from instances import BENCH_DIR, SERVER_CORE, pinned
from report import Figure
from topics import bench_topics
from wrk import Series, alternate

from contracts import NewOrderV1, build_new_order_event, event_headers

Row = tuple[str, str, str, str, str]  # event_id, topic, key, payload, headers (JSON)


def new_order_rows(topic: str, user_id: int, count: int) -> list[Row]:
    """`count` events as orders-service writes them to its outbox."""
    rows = []
    for _ in range(count):
        data = NewOrderV1(
            order_id=uuid.uuid4(),
            user_id=user_id,
            status="PENDING",
            items=[{"product_id": "sku-bench", "name": "Bench", "quantity": 2, "price": "4.50"}],
            total_price=Decimal("9.00"),
            created_at=datetime.now(UTC),
        )
        event = build_new_order_event(data, uuid.uuid4().hex)
        headers = {name: value.decode() for name, value in event_headers(event)}
        rows.append(
            (
                str(event.event_id),
                topic,
                str(data.order_id),
                event.model_dump_json(),
                json.dumps(headers),
            )
        )
    return rows


def write_backlog(db_url: str, rows: list[Row]) -> float:
    """The rows in one transaction (its NOTIFY wakes the relay); the commit's epoch time."""
    with psycopg.connect(libpq(db_url)) as db:
        db.execute("TRUNCATE outbox")
        db.commit()
        with db.cursor().copy(
            "COPY outbox (event_id, topic, key, payload, headers) FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row(row)
        # statistics as a table in service has them (not those of the empty table), taken
        # before the commit that wakes the relay: every round plans its claims alike
        db.execute("ANALYZE outbox")
        db.commit()
        return time.time()


def relay_run(b: Bench, rows: list[Row], timeout: float = 300) -> dict[str, Any]:
    committed = write_backlog(b.orders_db, rows)
    with psycopg.connect(libpq(b.orders_db), autocommit=True) as db:

        def published() -> bool:
            row = db.execute("SELECT count(published_at) FROM outbox").fetchone()
            return bool(row and row[0] == len(rows))

        done = loops.poll(timeout, published, interval=0.1)
        last = db.execute("SELECT extract(epoch FROM max(published_at)) FROM outbox").fetchone()
    seconds = float(last[0]) - committed if done and last else float("inf")
    return {"rps": round(len(rows) / seconds, 1), "seconds": round(seconds, 3), "complete": done}


def producer_run(b: Bench) -> dict[str, Any]:
    command = [sys.executable, str(BENCH_DIR / "producer_ceiling.py"), libpq(b.orders_db)]
    out = subprocess.run(
        pinned(SERVER_CORE, command), capture_output=True, text=True, check=True
    ).stdout
    result: dict[str, Any] = json.loads(out)
    return result


def relay(b: Bench, rounds: int, count: int) -> tuple[list[Figure], dict[str, Any]]:
    b.truncate_orders()
    with bench_topics("relay") as (topic,), loops.relay(b, core=SERVER_CORE):
        rows = new_order_rows(topic, b.user.id, count)
        time.sleep(3)  # the relay connected and idle
        # the producer sends what the relay just published: the same rows, the same topic
        series: dict[str, Series] = alternate(
            {"relay": lambda: relay_run(b, rows), "producer": lambda: producer_run(b)},
            rounds,
            lambda: time.sleep(1),
        )
    b.truncate_orders()
    figure = Figure(
        f"relay, backlog of {count}",
        series["relay"].median,
        "msg/s",
        "bare producer",
        series["producer"].median,
        ">= 0.5",
    )
    return [figure], {"relay": {name: s.summary() for name, s in series.items()}}
