"""The relay's reference: `python producer_ceiling.py DB_URL` reads every row of the outbox
(the backlog the relay just published), then sends them with a producer of the relay's own
settings (orders_service.outbox_relay.make_producer) and flushes once. Prints JSON: the
messages per second of produce + flush, the seconds, whether every delivery report was good."""

from __future__ import annotations

import json
import sys
import time

import psycopg
from confluent_kafka import KafkaError, Message

from orders_service.config import Settings
from orders_service.outbox_relay import make_producer


def main() -> None:
    with psycopg.connect(sys.argv[1]) as db:
        rows = db.execute("SELECT topic, key, payload, headers FROM outbox ORDER BY id").fetchall()
    # as the relay serialises a payload (compact JSON), before the clock starts
    messages = [
        (
            topic,
            key.encode(),
            json.dumps(payload, separators=(",", ":")).encode(),
            [(k, v.encode()) for k, v in headers.items()],
        )
        for topic, key, payload, headers in rows
    ]
    producer = make_producer(Settings())
    failed: list[str] = []

    def report(err: KafkaError | None, _: Message) -> None:
        if err is not None:
            failed.append(str(err))

    started = time.perf_counter()
    for topic, key, value, headers in messages:
        producer.produce(topic, key=key, value=value, headers=headers, on_delivery=report)
    left = producer.flush(60)
    seconds = time.perf_counter() - started
    result = {
        "rps": round(len(rows) / seconds, 1),
        "seconds": round(seconds, 3),
        "complete": not failed and left == 0,
    }
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
