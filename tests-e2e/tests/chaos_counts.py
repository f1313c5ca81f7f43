"""The chaos run's counts, read like an outsider: the orders and processor databases, the
`new_order` topic and the worker's log.

Order per key: the topic is read from the beginning by a fresh consumer; each key's events must
sit in one partition, in the order the outbox wrote them (a repeat of the same event, sent again
after a relay crash, keeps its place; an older event after a newer one would not)."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field

from confluent_kafka import Consumer, TopicPartition

from tests.clients import Sql, Stack

log = logging.getLogger("chaos")

WORK_STARTED = "order.processing"  # the worker's log line before an attempt at one order's work
WORK_DONE = "order processed"  # its line once the work of an order is recorded


@dataclass
class Outcome:
    orders_sent: int
    orders_accepted: int
    orders_in_database: int
    responses: dict[str, int]
    events_published: int
    orders_processed: int
    lost: int
    duplicated_work: int
    work_retried: int  # orders whose work was attempted again after a crash or a failure
    duplicate_orders: int
    status_500: int
    given_up: int
    keys_in_two_partitions: int
    keys_out_of_order: int
    gateway_failed_retries: int = 0  # retries the gateway answered itself: no replica answered
    seconds_to_drain: float = 0.0
    faults: list[str] = field(default_factory=list)
    examples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not (
            self.lost
            or self.duplicated_work
            or self.duplicate_orders
            or self.status_500
            or self.given_up
            or self.keys_in_two_partitions
            or self.keys_out_of_order
            or self.gateway_failed_retries
        )

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "passed": self.passed}

    def table(self) -> str:
        skipped = ("examples", "faults")
        rows = [(name, value) for name, value in asdict(self).items() if name not in skipped]
        rows.append(("passed", self.passed))
        width = max(len(name) for name, _ in rows)
        lines = [f"  {name.ljust(width)}  {value}" for name, value in rows]
        lines.append(f"  faults: {', '.join(self.faults)}")
        lines += [f"  {kind}: {', '.join(ids[:5])}" for kind, ids in self.examples.items() if ids]
        return "\n".join(["chaos outcome", *lines])


def _unprocessed(orders_db: Sql, processor_db: Sql, user_ids: list[int]) -> tuple[int, int]:
    ids = [row[0] for row in orders_db.rows(_ORDERS_OF, (user_ids,))]
    done = processor_db.scalar(
        "SELECT count(*) FROM processed_orders WHERE order_id = ANY(%s::uuid[])", (ids,)
    )
    return len(ids), len(ids) - done


_ORDERS_OF = "SELECT id::text, items->0->>'product_id' FROM orders WHERE user_id = ANY(%s)"


def wait_for_drain(
    orders_db: Sql, processor_db: Sql, user_ids: list[int], seconds: float, started: float
) -> None:
    """Until every order of these users is processed, or `seconds` pass (then it is counted)."""
    deadline = time.monotonic() + seconds
    reported = 0.0
    while True:
        try:
            total, left = _unprocessed(orders_db, processor_db, user_ids)
        except OSError:  # PostgreSQL may still be restarting
            total, left = -1, -1
        if left == 0 or time.monotonic() > deadline:
            return
        if time.monotonic() - reported > 10:
            log.info("%6.1f s  draining: %d of %d left", time.monotonic() - started, left, total)
            reported = time.monotonic()
        time.sleep(1)


@dataclass
class TopicRead:
    """Where each of these orders' events sits in `new_order`, in partition order."""

    events: dict[str, list[tuple[int, str]]] = field(default_factory=dict)  # key -> (p, event)

    def count(self) -> Counter[str]:
        return Counter({key: len(events) for key, events in self.events.items()})

    def in_two_partitions(self) -> list[str]:
        return sorted(k for k, events in self.events.items() if len({p for p, _ in events}) > 1)

    def out_of_order(self, written: dict[str, int]) -> list[str]:
        """Keys whose events, read in partition order, go back in the outbox's order."""
        bad = []
        for key, events in self.events.items():
            positions = [written.get(event_id, -1) for _, event_id in events]
            if positions != sorted(positions):
                bad.append(key)
        return sorted(bad)


def _published(stack: Stack, order_ids: set[str]) -> TopicRead:
    """Every `new_order` message of these orders, read from the beginning."""
    consumer = Consumer(
        {
            "bootstrap.servers": stack.kafka,
            "group.id": f"chaos-count-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    seen = TopicRead()
    try:
        partitions = consumer.list_topics("new_order", timeout=10).topics["new_order"].partitions
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition("new_order", p))[1] for p in partitions
        }
        consumer.assign([TopicPartition("new_order", p, 0) for p in partitions])
        left = {p for p, end in ends.items() if end > 0}
        while left:
            msg = consumer.poll(5)
            if msg is None:
                break
            if msg.error():
                continue
            key = (msg.key() or b"").decode()
            if key in order_ids:
                event_id = str(json.loads(msg.value() or b"{}").get("event_id"))
                seen.events.setdefault(key, []).append((msg.partition() or 0, event_id))
            if (msg.offset() or 0) + 1 >= ends[msg.partition() or 0]:
                left.discard(msg.partition() or 0)
    finally:
        consumer.close()
    return seen


@dataclass
class WorkLog:
    """What the worker's log says of each order: the attempts started, the works finished."""

    attempts: dict[str, list[int]] = field(default_factory=dict)
    finished: Counter[str] = field(default_factory=Counter)

    def duplicated(self) -> list[str]:
        """Orders whose work finished twice, or whose one attempt ran twice (two runs that both
        thought they held the claim): work applied twice. A crashed or failed attempt followed
        by the next one is a retry, not a duplicate: it shows as attempts 1, 2, ..."""
        twice = {order_id for order_id, n in self.finished.items() if n > 1}
        twice |= {o for o, seen in self.attempts.items() if len(seen) != len(set(seen))}
        return sorted(twice)

    def retried(self) -> int:
        return sum(1 for seen in self.attempts.values() if len(set(seen)) > 1)


def _work_log(worker_log: str, order_ids: set[str]) -> WorkLog:
    work = WorkLog()
    for line in worker_log.splitlines():
        if not line.startswith("{"):
            continue
        entry = json.loads(line)
        order_id = entry.get("order_id")
        if order_id not in order_ids:
            continue
        if entry.get("event") == WORK_STARTED:
            work.attempts.setdefault(order_id, []).append(int(entry.get("attempt", 1)))
        elif entry.get("event") == WORK_DONE:
            work.finished[order_id] += 1
    return work


def count_outcome(
    stack: Stack,
    orders_db: Sql,
    processor_db: Sql,
    user_ids: list[int],
    accepted: dict[str, str],
    given_up: dict[str, str],
    statuses: Counter[str],
    worker_log: str,
) -> Outcome:
    rows = orders_db.rows(_ORDERS_OF, (user_ids,))
    in_db = {str(order_id) for order_id, _ in rows}
    per_key = Counter(str(key) for _, key in rows)
    processed = {
        str(row[0])
        for row in processor_db.rows(
            "SELECT order_id::text FROM processed_orders WHERE order_id = ANY(%s::uuid[])",
            (sorted(in_db),),
        )
    }
    lost = (in_db - processed) | (set(accepted.values()) - in_db)
    work = _work_log(worker_log, in_db)
    twice = work.duplicated()
    topic = _published(stack, in_db)
    published = topic.count()
    written = {
        str(event_id): int(str(row_id))
        for event_id, row_id in orders_db.rows(
            "SELECT event_id::text, id FROM outbox WHERE key = ANY(%s)", (sorted(in_db),)
        )
    }
    two_partitions, out_of_order = topic.in_two_partitions(), topic.out_of_order(written)
    return Outcome(
        orders_sent=len(accepted) + len(given_up),
        orders_accepted=len(accepted),
        orders_in_database=len(in_db),
        responses=dict(sorted(statuses.items())),
        events_published=len(published),
        orders_processed=len(processed),
        lost=len(lost),
        duplicated_work=len(twice),
        work_retried=work.retried(),
        duplicate_orders=sum(n - 1 for n in per_key.values() if n > 1),
        status_500=statuses.get("500", 0),
        given_up=len(given_up),
        keys_in_two_partitions=len(two_partitions),
        keys_out_of_order=len(out_of_order),
        examples={
            "lost": sorted(lost),
            "duplicated work": twice,
            "in two partitions": two_partitions,
            "out of order": out_of_order,
            "given up": [f"{k}: {why}" for k, why in given_up.items()],
        },
    )
