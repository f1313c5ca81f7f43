"""The `new_order` consumer: one Celery task per event, no event lost, none applied twice.

Messages are handled in batches of what has arrived (up to PROCESSOR_CONSUMER_BATCH_SIZE):
1. each is validated with `contracts`;
2. the valid ones go to the intake use case (`services.intake.accept_all`: the inbox rows in one
   statement and their Celery tasks on one broker connection, all in one transaction committed
   after the broker took them; duplicates skipped);
3. an invalid one goes to `new_order.dlq` with the reason in a header;
4. only then are the offsets stored, per partition the highest handled + 1
   (`enable.auto.offset.store=false`); the auto-commit thread and `close()` commit stored
   offsets only.

This module is the Kafka side only. If PostgreSQL or the broker is down, nothing of the batch
is committed: the consumer stores what was handled, seeks every partition back to its first
unhandled message, backs off and retries. Each partition is handled in its order. SIGTERM
finishes the batch in hand, commits and closes.

Run: `python -m order_processor.consumer`.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from types import FrameType
from typing import Any

import structlog
from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from pydantic import ValidationError

from contracts import DLQ_REASON_HEADER, NewOrderEvent, parse_new_order
from order_processor.celery_app import app as celery_app
from order_processor.config import Settings, get_settings
from order_processor.db.session import sync_sessionmaker, transaction
from order_processor.services import intake
from order_processor.task_queue import TaskQueue
from service_kit.backoff import logged_retry_delay
from service_kit.heartbeat import Heartbeat
from service_kit.logging import bind_correlation_id, clear_correlation_id, configure_logging

log = structlog.get_logger(__name__)

MAX_BACKOFF_SECONDS = 5.0
MAX_DLQ_ATTEMPTS = 10

# The intake use case with its inbox and queue bound (services.intake.accept_all in production):
# one outcome per event, in order.
Intake = Callable[[Sequence[NewOrderEvent]], list[intake.Outcome]]


class DeadLetterNotDelivered(RuntimeError):
    """Kafka did not acknowledge an invalid message on the DLQ: it is tried again."""


class Stop:
    """Set by SIGTERM/SIGINT; the loop finishes the batch in hand and exits."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, signum: int, _: FrameType | None) -> None:
        log.info("consumer.stop_requested", signal=signal.Signals(signum).name)
        self.requested = True


class OrderConsumer:
    def __init__(
        self,
        settings: Settings,
        consumer: Consumer,
        dlq: Producer,
        accept: Intake,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.consumer = consumer
        self.dlq = dlq
        self.accept = accept
        self.sleep = sleep
        self.failures = 0
        self.dlq_failures = 0
        self.handled = 0
        self.heartbeat = Heartbeat(settings.heartbeat_file)

    def handle(self, batch: Sequence[Message], handled: list[Message]) -> None:
        """Handle a batch: every message whose offset may be stored is appended to `handled`;
        raises when the rest must be tried again. The valid events are taken in first, in one
        transaction, then the invalid messages are dead-lettered one by one."""
        parsed = [(msg, _parse(msg)) for msg in batch]
        valid = [(msg, item) for msg, item in parsed if isinstance(item, NewOrderEvent)]
        outcomes = self.accept([event for _, event in valid]) if valid else []
        for (msg, event), outcome in zip(valid, outcomes, strict=True):
            with _correlated(msg):
                if outcome is intake.Outcome.DUPLICATE:
                    log.info("consumer.duplicate_skipped", event_id=str(event.event_id))
                else:
                    log.info(
                        "consumer.task_queued",
                        event_id=str(event.event_id),
                        order_id=str(event.data.order_id),
                        partition=msg.partition(),
                        offset=msg.offset(),
                    )
            handled.append(msg)
        for msg, item in parsed:
            if isinstance(item, str):
                with _correlated(msg):
                    self._dead_letter(msg, item)
                handled.append(msg)

    def _dead_letter(self, msg: Message, reason: str) -> None:
        """Send an invalid message to the DLQ; raises DeadLetterNotDelivered while Kafka refuses
        it. After MAX_DLQ_ATTEMPTS refusals (e.g. too large) it is logged as an error, with the
        reason and its position, and skipped, so that one message cannot stop the partition."""
        error = self._send_to_dlq(msg, reason)
        where = {"partition": msg.partition(), "offset": msg.offset(), "reason": reason}
        if error is None:
            self.dlq_failures = 0
            log.warning("consumer.dead_lettered", **where)
            return
        self.dlq_failures += 1
        if self.dlq_failures < MAX_DLQ_ATTEMPTS:
            raise DeadLetterNotDelivered(f"dead-letter message not delivered: {error}")
        self.dlq_failures = 0
        log.error("consumer.dead_letter_failed", error=error, **where)

    def _send_to_dlq(self, msg: Message, reason: str) -> str | None:
        """None once Kafka acknowledged the copy, else why it did not."""
        headers = [*(msg.headers() or []), (DLQ_REASON_HEADER, reason.encode()[:1000])]
        headers += [
            ("source_topic", (msg.topic() or "").encode()),
            ("source_partition", str(msg.partition()).encode()),
            ("source_offset", str(msg.offset()).encode()),
        ]
        reports: list[KafkaError | None] = []
        try:
            self.dlq.produce(
                self.settings.dlq_topic,
                value=msg.value(),
                key=msg.key(),
                headers=headers,
                on_delivery=lambda err, _: reports.append(err),
            )
            self.dlq.flush(10)
        except (BufferError, KafkaException) as exc:
            return str(exc)
        if not reports:
            return "no delivery report"
        return None if reports[0] is None else str(reports[0])

    def run(self, stop: Stop) -> None:
        self.consumer.subscribe([self.settings.topic])
        log.info("consumer.started", group=self.settings.consumer_group, topic=self.settings.topic)
        while not stop.requested:
            self.heartbeat.beat()
            batch = self._next_batch()
            if not batch:
                continue
            handled: list[Message] = []
            try:
                self.handle(batch, handled)
            except Exception as exc:
                self._store(batch, handled)
                self._back_off(batch, handled, exc)
                continue
            self._store(batch, handled)
            self.handled += len(batch)
            if self.failures:
                log.info("consumer.recovered", after_failures=self.failures)
            self.failures = 0
        log.info("consumer.stopping")

    def _next_batch(self) -> list[Message]:
        """What has arrived, up to the batch size, without waiting for more: the first message
        is waited for (at most a second), the rest are those fetched already. Errors are logged
        and left out."""
        batch = self.consumer.consume(num_messages=1, timeout=1.0)
        if batch and self.settings.consumer_batch_size > 1:
            more = self.settings.consumer_batch_size - 1
            batch += self.consumer.consume(num_messages=more, timeout=0)
        messages = []
        for msg in batch:
            error = msg.error()
            if error is None:
                messages.append(msg)
            elif error.code() != KafkaError._PARTITION_EOF:
                log.warning("consumer.kafka_error", error=str(error))
        return messages

    def _store(self, batch: Sequence[Message], handled: list[Message]) -> None:
        """Store, per partition, the offset after its handled head: the messages of the batch
        before its first unhandled one."""
        offsets = [
            TopicPartition(topic, partition, after_head)
            for (topic, partition), (after_head, _) in _heads(batch, handled).items()
            if after_head is not None
        ]
        if offsets:
            self.consumer.store_offsets(offsets=offsets)

    def _back_off(self, batch: Sequence[Message], handled: list[Message], exc: Exception) -> None:
        """Go back, on every partition, to its first unhandled message and wait before trying
        again."""
        self.failures += 1
        first = [
            (topic, partition, unhandled)
            for (topic, partition), (_, unhandled) in _heads(batch, handled).items()
            if unhandled is not None
        ]
        delay = logged_retry_delay(
            "consumer.retry",
            exc,
            self.failures,
            base=0.2,
            cap=MAX_BACKOFF_SECONDS,
            partition=first[0][1] if first else None,
            offset=first[0][2] if first else None,
            partitions=len(first),
        )
        for topic, partition, offset in first:
            self.consumer.seek(TopicPartition(topic, partition, offset))
        self.sleep(delay)


def _heads(
    batch: Sequence[Message], handled: list[Message]
) -> dict[tuple[str, int], tuple[int | None, int | None]]:
    """Per partition of the batch: the offset after its handled head (None if its first message
    is unhandled) and its first unhandled offset (None if all are handled)."""
    done = {id(msg) for msg in handled}
    heads: dict[tuple[str, int], tuple[int | None, int | None]] = {}
    for msg in batch:
        where, offset = (msg.topic() or "", msg.partition() or 0), msg.offset() or 0
        after_head, unhandled = heads.get(where, (None, None))
        if unhandled is None and id(msg) in done:
            heads[where] = (offset + 1, None)
        elif unhandled is None:
            heads[where] = (after_head, offset)
    return heads


def _parse(msg: Message) -> NewOrderEvent | str:
    """The message's event, or why it is invalid."""
    try:
        return parse_new_order(msg.value() or b"")
    except (ValidationError, ValueError) as exc:
        return _reason(exc)


@contextmanager
def _correlated(msg: Message) -> Iterator[None]:
    """The message's correlation id on the log lines of its handling."""
    headers = dict(msg.headers() or [])
    bind_correlation_id(_text(headers.get("correlation_id")) or None)
    try:
        yield
    finally:
        clear_correlation_id()


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value or "")


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return f"invalid new_order: {where}: {first.get('msg')}"
    return f"invalid new_order: {exc}"


def kafka_consumer(settings: Settings) -> Consumer:
    """The group's consumer: offsets stored by the loop only, committed by librdkafka."""
    return Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "group.id": settings.consumer_group,
            "enable.auto.commit": True,
            "auto.commit.interval.ms": settings.commit_interval_ms,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 10000,
            "max.poll.interval.ms": 300000,
        },
        logger=logging.getLogger("librdkafka"),
    )


def dlq_producer(settings: Settings) -> Producer:
    return Producer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "enable.idempotence": True,
            "acks": "all",
        },
        logger=logging.getLogger("librdkafka"),
    )


def main() -> None:
    settings = get_settings()
    configure_logging("order-processor", settings.log_level, settings.log_json)
    stop = Stop()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    consumer, dlq = kafka_consumer(settings), dlq_producer(settings)
    accept = partial(
        intake.accept_all,
        transaction=partial(transaction, sync_sessionmaker()),
        enqueue=TaskQueue(celery_app, settings.task_queue).enqueue_all,
    )
    worker = OrderConsumer(settings, consumer, dlq, accept)
    try:
        worker.run(stop)
    finally:
        consumer.close()  # commits the stored offsets and leaves the group
        dlq.flush(10)
        log.info("consumer.closed")


if __name__ == "__main__":
    main()
