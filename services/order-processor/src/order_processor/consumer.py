"""The `new_order` consumer: one Celery task per event, no event lost, none applied twice.

For each message:
1. validate it with `contracts`; an invalid one goes to `new_order.dlq` with the reason in a
   header, and its offset is stored so the consumer moves on;
2. in one database transaction, record the event id in the inbox (insert ... on conflict do
   nothing); a duplicate is skipped; otherwise queue the Celery task, then commit;
3. only then store the offset (`enable.auto.offset.store=false`); the auto-commit thread and
   `close()` commit stored offsets only.

A crash between queueing and committing re-delivers the message: the inbox row was rolled back,
so the task is queued again and its own idempotency (one `processed_orders` row per order) keeps
the effect single. If PostgreSQL or the broker is down, the consumer seeks back to the message,
backs off and retries; nothing is committed meanwhile. SIGTERM finishes the message in hand,
commits and closes.

Run: `python -m order_processor.consumer`.
"""

from __future__ import annotations

import logging
import random
import signal
import time
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
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, sessionmaker

from contracts import DLQ_REASON_HEADER, parse_new_order
from order_processor.celery_app import app as celery_app
from order_processor.config import Settings, get_settings
from order_processor.db.models import ProcessedEvent
from order_processor.db.session import sync_sessionmaker
from order_processor.logging import setup_logging
from order_processor.tasks import PROCESS_ORDER
from service_kit.heartbeat import Heartbeat
from service_kit.logging import bind_correlation_id, clear_correlation_id

log = structlog.get_logger(__name__)

MAX_BACKOFF_SECONDS = 5.0
MAX_DLQ_ATTEMPTS = 10


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
        sessions: sessionmaker[Session],
        consumer: Consumer,
        dlq: Producer,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.consumer = consumer
        self.dlq = dlq
        self.failures = 0
        self.dlq_failures = 0
        self.handled = 0
        self.heartbeat = Heartbeat(settings.heartbeat_file)

    def handle(self, msg: Message) -> bool:
        """Handle one message; True when its offset may be stored."""
        headers = dict(msg.headers() or [])
        correlation_id = _text(headers.get("correlation_id"))
        bind_correlation_id(correlation_id or None)
        try:
            try:
                event = parse_new_order(msg.value() or b"")
            except (ValidationError, ValueError) as exc:
                return self._dead_letter(msg, _reason(exc))
            with self.sessions() as session:
                inserted = session.execute(
                    insert(ProcessedEvent)
                    .values(event_id=event.event_id, order_id=event.data.order_id)
                    .on_conflict_do_nothing(index_elements=[ProcessedEvent.event_id])
                    .returning(ProcessedEvent.event_id)
                ).scalar_one_or_none()
                if inserted is None:
                    log.info("consumer.duplicate_skipped", event_id=str(event.event_id))
                    return True
                celery_app.send_task(
                    PROCESS_ORDER,
                    kwargs={
                        "order": event.data.model_dump(mode="json"),
                        "event_id": str(event.event_id),
                        "correlation_id": event.correlation_id,
                    },
                    queue=self.settings.task_queue,
                    retry=True,
                    retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.3},
                )
                session.commit()
            log.info(
                "consumer.task_queued",
                event_id=str(event.event_id),
                order_id=str(event.data.order_id),
                partition=msg.partition(),
                offset=msg.offset(),
            )
            return True
        finally:
            clear_correlation_id()

    def _dead_letter(self, msg: Message, reason: str) -> bool:
        """Send an invalid message to the DLQ; True once Kafka acknowledged it. If the DLQ
        refuses it MAX_DLQ_ATTEMPTS times (e.g. too large), it is logged as an error, with the
        reason and its position, and skipped, so that one message cannot stop the partition."""
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
            error = reports[0] if reports else "no delivery report"
        except (BufferError, KafkaException) as exc:
            error = str(exc)
        where = {"partition": msg.partition(), "offset": msg.offset(), "reason": reason}
        if error is None:
            self.dlq_failures = 0
            log.warning("consumer.dead_lettered", **where)
            return True
        self.dlq_failures += 1
        if self.dlq_failures < MAX_DLQ_ATTEMPTS:
            raise RuntimeError(f"dead-letter message not delivered: {error}")
        self.dlq_failures = 0
        log.error("consumer.dead_letter_failed", error=str(error), **where)
        return True

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
                done = self.handle(msg)
            except Exception as exc:
                done = False
                self._back_off(msg, exc)
            if done:
                self.consumer.store_offsets(message=msg)
                self.handled += 1
                if self.failures:
                    log.info("consumer.recovered", after_failures=self.failures)
                self.failures = 0
        log.info("consumer.stopping")

    def _back_off(self, msg: Message, exc: Exception) -> None:
        """Go back to the failed message and wait before trying it again."""
        self.failures += 1
        exponent = min(self.failures, 10)  # a long outage must not overflow the float
        delay = min(MAX_BACKOFF_SECONDS, 0.2 * 2**exponent) * random.uniform(0.5, 1.0)
        log.warning(
            "consumer.retry",
            error=type(exc).__name__,
            detail=str(exc)[:300],
            attempt=self.failures,
            delay_s=round(delay, 2),
            partition=msg.partition(),
            offset=msg.offset(),
        )
        self.consumer.seek(
            TopicPartition(msg.topic() or "", msg.partition() or 0, msg.offset() or 0)
        )
        time.sleep(delay)


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
    setup_logging(settings)
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
    worker = OrderConsumer(settings, sync_sessionmaker(), consumer, dlq)
    try:
        worker.run(stop)
    finally:
        consumer.close()  # commits the stored offsets and leaves the group
        dlq.flush(10)
        log.info("consumer.closed")


if __name__ == "__main__":
    main()
