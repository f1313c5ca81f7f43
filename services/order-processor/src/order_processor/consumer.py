"""The `new_order` consumer: one Celery task per event, no event lost, none applied twice.

For each message:
1. validate it with `contracts`; an invalid one goes to `new_order.dlq` with the reason in a
   header, and its offset is stored so the consumer moves on;
2. hand the event to the intake use case (`services.intake.accept`: the inbox row and the
   Celery task in one transaction, a duplicate skipped);
3. only then store the offset (`enable.auto.offset.store=false`); the auto-commit thread and
   `close()` commit stored offsets only.

This module is the Kafka side only. If PostgreSQL or the broker is down, the consumer seeks
back to the message, backs off and retries; nothing is committed meanwhile. SIGTERM finishes
the message in hand, commits and closes.

Run: `python -m order_processor.consumer`.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
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

# The intake use case with its inbox and queue bound (services.intake.accept in production).
Intake = Callable[[NewOrderEvent], intake.Outcome]


class DeadLetterNotDelivered(RuntimeError):
    """Kafka did not acknowledge an invalid message on the DLQ: it is tried again."""


class Stop:
    """Set by SIGTERM/SIGINT; the loop finishes the message in hand and exits."""

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

    def handle(self, msg: Message) -> None:
        """Handle one message: returns once its offset may be stored, raises when the message
        must be tried again."""
        headers = dict(msg.headers() or [])
        correlation_id = _text(headers.get("correlation_id"))
        bind_correlation_id(correlation_id or None)
        try:
            try:
                event = parse_new_order(msg.value() or b"")
            except (ValidationError, ValueError) as exc:
                self._dead_letter(msg, _reason(exc))
                return
            if self.accept(event) is intake.Outcome.DUPLICATE:
                log.info("consumer.duplicate_skipped", event_id=str(event.event_id))
                return
            log.info(
                "consumer.task_queued",
                event_id=str(event.event_id),
                order_id=str(event.data.order_id),
                partition=msg.partition(),
                offset=msg.offset(),
            )
        finally:
            clear_correlation_id()

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
            msg = self.consumer.poll(1.0)
            if msg is None:
                continue
            error = msg.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("consumer.kafka_error", error=str(error))
                continue
            try:
                self.handle(msg)
            except Exception as exc:
                self._back_off(msg, exc)
                continue
            self.consumer.store_offsets(message=msg)
            self.handled += 1
            if self.failures:
                log.info("consumer.recovered", after_failures=self.failures)
            self.failures = 0
        log.info("consumer.stopping")

    def _back_off(self, msg: Message, exc: Exception) -> None:
        """Go back to the failed message and wait before trying it again."""
        self.failures += 1
        delay = logged_retry_delay(
            "consumer.retry",
            exc,
            self.failures,
            base=0.2,
            cap=MAX_BACKOFF_SECONDS,
            partition=msg.partition(),
            offset=msg.offset(),
        )
        self.consumer.seek(
            TopicPartition(msg.topic() or "", msg.partition() or 0, msg.offset() or 0)
        )
        self.sleep(delay)


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value or "")


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return f"invalid new_order: {where}: {first.get('msg')}"
    return f"invalid new_order: {exc}"


def main() -> None:
    settings = get_settings()
    configure_logging("order-processor", settings.log_level, settings.log_json)
    stop = Stop()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    kafka_log = logging.getLogger("librdkafka")
    consumer = Consumer(
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
        logger=kafka_log,
    )
    dlq = Producer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "enable.idempotence": True,
            "acks": "all",
        },
        logger=kafka_log,
    )
    accept = partial(
        intake.accept,
        transaction=partial(transaction, sync_sessionmaker()),
        enqueue=TaskQueue(celery_app, settings.task_queue).enqueue,
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
