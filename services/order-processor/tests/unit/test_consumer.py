"""The consumer's message handling with fake Kafka: what it dead-letters, retries and stores."""

from __future__ import annotations

import json
from collections.abc import Callable, MutableMapping, Sequence
from typing import Any

import pytest
from confluent_kafka import TopicPartition
from structlog.testing import capture_logs

from contracts import DLQ_REASON_HEADER, NewOrderEvent
from order_processor.config import Settings
from order_processor.consumer import (
    MAX_BACKOFF_SECONDS,
    MAX_DLQ_ATTEMPTS,
    OrderConsumer,
    Stop,
)
from order_processor.services.intake import Outcome
from tests.support import new_order_event

TOPIC = "new_order"


class FakeMessage:
    def __init__(self, value: bytes, offset: int) -> None:
        self._value = value
        self._offset = offset

    def value(self) -> bytes:
        return self._value

    def key(self) -> bytes | None:
        return None

    def headers(self) -> list[tuple[str, bytes]]:
        return [("correlation_id", b"unit-test")]

    def topic(self) -> str:
        return TOPIC

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def error(self) -> None:
        return None


class FakeKafka:
    """One partition: consume hands out the messages from the position, seek moves the position
    back; once the partition is drained the stop is requested."""

    def __init__(self, journal: list[str], stop: Stop, *values: bytes) -> None:
        self.journal = journal
        self.stop = stop
        self.messages = [FakeMessage(v, offset) for offset, v in enumerate(values)]
        self.position = 0

    def subscribe(self, topics: list[str]) -> None:
        assert topics == [TOPIC]

    def consume(self, num_messages: int, timeout: float) -> list[FakeMessage]:
        if self.position == len(self.messages):
            if timeout:  # a wait for the next message: there is none
                self.stop.requested = True
            return []
        batch = self.messages[self.position : self.position + num_messages]
        self.position += len(batch)
        return batch

    def seek(self, partition: TopicPartition) -> None:
        self.position = partition.offset

    def store_offsets(self, offsets: list[TopicPartition]) -> None:
        # journaled as the last message handled, the one before the stored position
        self.journal += [f"store {tp.offset - 1}" for tp in offsets]


class FakeDlq:
    """A producer whose delivery reports refuse the first `refusals` messages."""

    def __init__(self, journal: list[str], refusals: int = 0) -> None:
        self.journal = journal
        self.refusals = refusals
        self.attempts = 0
        self.delivered: list[dict[str, Any]] = []
        self._report: Callable[[Any, Any], None] | None = None

    def produce(self, topic: str, **message: Any) -> None:
        self.attempts += 1
        self._report = message.pop("on_delivery")
        self._message = {"topic": topic, **message}

    def flush(self, timeout: float) -> int:
        assert self._report is not None
        if self.attempts <= self.refusals:
            self._report("Broker: Message size too large", None)
        else:
            self.delivered.append(self._message)
            self.journal.append("dead-letter")
            self._report(None, None)
        return 0


class FakeIntake:
    def __init__(self, journal: list[str], outcome: Outcome = Outcome.ACCEPTED, fail: int = 0):
        self.journal = journal
        self.outcome = outcome
        self.fail = fail
        self.events: list[NewOrderEvent] = []

    def __call__(self, events: Sequence[NewOrderEvent]) -> list[Outcome]:
        if self.fail:
            self.fail -= 1
            raise ConnectionError("database unreachable")
        self.events += events
        self.journal.append("accept")
        return [self.outcome for _ in events]


@pytest.fixture
def settings() -> Settings:
    """One message at a time (the batches have their own tests)."""
    return Settings(
        topic=TOPIC, dlq_topic="new_order.dlq", heartbeat_file=None, consumer_batch_size=1
    )


Logs = list[MutableMapping[str, Any]]


def run(
    settings: Settings, intake: FakeIntake, dlq: FakeDlq, *values: bytes
) -> tuple[list[float], Logs]:
    stop = Stop()
    kafka = FakeKafka(intake.journal, stop, *values)
    slept: list[float] = []
    consumer = OrderConsumer(settings, kafka, dlq, intake, sleep=slept.append)  # type: ignore[arg-type]
    with capture_logs() as logs:
        consumer.run(stop)
    return slept, logs


def events(logs: Logs) -> list[str]:
    return [entry["event"] for entry in logs]


def test_a_valid_event_is_handed_to_the_intake_then_its_offset_stored(settings: Settings) -> None:
    journal: list[str] = []
    intake = FakeIntake(journal)
    event = new_order_event()

    _, logs = run(settings, intake, FakeDlq(journal), json.dumps(event).encode())

    assert journal == ["accept", "store 0"]
    assert [str(e.event_id) for e in intake.events] == [event["event_id"]]
    assert "consumer.task_queued" in events(logs)


def test_a_duplicate_is_logged_as_skipped_and_its_offset_stored(settings: Settings) -> None:
    journal: list[str] = []
    intake = FakeIntake(journal, Outcome.DUPLICATE)

    _, logs = run(settings, intake, FakeDlq(journal), json.dumps(new_order_event()).encode())

    assert journal == ["accept", "store 0"]
    assert "consumer.duplicate_skipped" in events(logs)
    assert "consumer.task_queued" not in events(logs)


def test_an_invalid_payload_is_dead_lettered_then_its_offset_stored(settings: Settings) -> None:
    journal: list[str] = []
    dlq = FakeDlq(journal)
    intake = FakeIntake(journal)

    _, logs = run(settings, intake, dlq, b"{not json", json.dumps(new_order_event()).encode())

    assert journal == ["dead-letter", "store 0", "accept", "store 1"]
    [dead] = dlq.delivered
    assert dead["topic"] == "new_order.dlq"
    assert dead["value"] == b"{not json"
    headers = dict(dead["headers"])
    assert headers[DLQ_REASON_HEADER].startswith(b"invalid new_order")
    assert headers["source_offset"] == b"0"
    assert "consumer.dead_lettered" in events(logs)


def test_a_dlq_refusing_a_while_is_retried_with_back_off(settings: Settings) -> None:
    journal: list[str] = []
    dlq = FakeDlq(journal, refusals=2)

    slept, logs = run(settings, FakeIntake(journal), dlq, b"{not json")

    assert dlq.attempts == 3
    assert journal == ["dead-letter", "store 0"]
    assert len(slept) == 2
    assert events(logs).count("consumer.retry") == 2
    assert "consumer.recovered" in events(logs)


def test_a_dlq_refusing_every_time_is_given_up_after_the_limit_with_an_error_log(
    settings: Settings,
) -> None:
    journal: list[str] = []
    dlq = FakeDlq(journal, refusals=MAX_DLQ_ATTEMPTS)

    slept, logs = run(settings, FakeIntake(journal), dlq, b"{not json")

    assert dlq.attempts == MAX_DLQ_ATTEMPTS
    assert journal == ["store 0"]  # skipped: one message does not stop the partition
    assert len(slept) == MAX_DLQ_ATTEMPTS - 1
    [failed] = [entry for entry in logs if entry["event"] == "consumer.dead_letter_failed"]
    assert failed["log_level"] == "error"
    assert failed["offset"] == 0
    assert failed["reason"].startswith("invalid new_order")


def test_an_intake_failure_goes_back_to_the_message_and_retries_it(settings: Settings) -> None:
    journal: list[str] = []
    intake = FakeIntake(journal, fail=3)

    slept, logs = run(settings, intake, FakeDlq(journal), json.dumps(new_order_event()).encode())

    assert journal == ["accept", "store 0"]  # the offset stored only once it was taken in
    assert len(slept) == 3
    assert all(0 < delay <= MAX_BACKOFF_SECONDS for delay in slept)
    retries = [entry for entry in logs if entry["event"] == "consumer.retry"]
    assert [entry["attempt"] for entry in retries] == [1, 2, 3]
    assert retries[0]["error"] == "ConnectionError"


# --- batches: what has arrived is handled together


def test_a_batch_is_taken_in_at_once_and_an_invalid_message_in_it_dead_lettered(
    settings: Settings,
) -> None:
    journal: list[str] = []
    intake, dlq = FakeIntake(journal), FakeDlq(journal)
    first, last = new_order_event(), new_order_event()
    batched = settings.model_copy(update={"consumer_batch_size": 10})

    _, logs = run(
        batched, intake, dlq, json.dumps(first).encode(), b"{not json", json.dumps(last).encode()
    )

    # one intake for both events, the invalid one dead-lettered, then one store past all three
    assert journal == ["accept", "dead-letter", "store 2"]
    assert [str(e.event_id) for e in intake.events] == [first["event_id"], last["event_id"]]
    assert [dict(dlq.delivered[0]["headers"])["source_offset"]] == [b"1"]
    assert events(logs).count("consumer.task_queued") == 2


def test_an_intake_failure_retries_the_whole_batch(settings: Settings) -> None:
    journal: list[str] = []
    intake = FakeIntake(journal, fail=2)
    values = [json.dumps(new_order_event()).encode() for _ in range(3)]
    batched = settings.model_copy(update={"consumer_batch_size": 10})

    slept, logs = run(batched, intake, FakeDlq(journal), *values)

    assert journal == ["accept", "store 2"]  # nothing stored before the batch was taken in
    assert len(intake.events) == 3
    assert len(slept) == 2
    assert [e["offset"] for e in logs if e["event"] == "consumer.retry"] == [0, 0]


def test_a_dlq_failure_after_the_intake_goes_back_to_the_invalid_message_only(
    settings: Settings,
) -> None:
    journal: list[str] = []
    intake, dlq = FakeIntake(journal), FakeDlq(journal, refusals=1)
    values = [json.dumps(new_order_event()).encode(), b"{not json", b"[]"]
    batched = settings.model_copy(update={"consumer_batch_size": 10})

    slept, logs = run(batched, intake, dlq, *values)

    # the event before the invalid message is stored; the retry starts at the invalid one
    assert journal == ["accept", "store 0", "dead-letter", "dead-letter", "store 2"]
    assert len(intake.events) == 1
    assert len(slept) == 1
    assert [e["offset"] for e in logs if e["event"] == "consumer.retry"] == [1]
