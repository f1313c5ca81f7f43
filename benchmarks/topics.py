"""Kafka topics of the bench's own (`bench.*`) on the stack's broker, which creates none by
itself: made as the stack makes `new_order` (3 partitions), deleted after the part that used
them, so no consumer of the stack ever reads a bench message."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

PARTITIONS = 3


def bootstrap() -> str:
    return os.environ.get("ORDERS_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")


@contextmanager
def bench_topics(purpose: str, *suffixes: str) -> Iterator[list[str]]:
    """`bench.<purpose>.<run>` and one topic per suffix beside it, for the block's duration."""
    base = f"bench.{purpose}.{uuid.uuid4().hex[:8]}"
    names = [base, *(f"{base}.{suffix}" for suffix in suffixes)]
    admin = AdminClient({"bootstrap.servers": bootstrap()})
    created = admin.create_topics([NewTopic(n, PARTITIONS, 1) for n in names])
    for future in created.values():
        future.result(15)
    try:
        yield names
    finally:
        for future in admin.delete_topics(names).values():
            future.result(15)
