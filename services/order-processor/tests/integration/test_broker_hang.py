"""A broker that stops answering (a frozen redis-server of this test's own, never the stack's):
the intake fails within seconds, keeps no inbox row, and takes events in again once the broker
answers; the consumer process backs off meanwhile instead of blocking."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from contracts import parse_new_order
from order_processor.celery_app import make_celery
from order_processor.config import Settings
from order_processor.db.models import ProcessedEvent
from order_processor.db.session import transaction
from order_processor.services.intake import Outcome, accept
from order_processor.task_queue import TaskQueue
from stack_control.waiting import eventually
from tests.support import count, new_order_event, produce

# What a consumer may spend on one refused task before it backs off ("a few seconds"; Kafka
# evicts a consumer that does not poll for max.poll.interval.ms, 300 s).
BUDGET_SECONDS = 10.0


@dataclass
class RedisServer:
    process: subprocess.Popen[bytes]
    url: str

    def freeze(self) -> None:
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[RedisServer]:
    port = _free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
    )
    server = RedisServer(process, f"redis://127.0.0.1:{port}/0")
    try:
        eventually(lambda: _answers(server.url), 10, "the test's redis-server up")
        yield server
    finally:
        server.thaw()
        process.terminate()
        process.wait(10)


def _answers(url: str) -> bool:
    try:
        return bool(Redis.from_url(url, socket_timeout=0.5).ping())
    except (RedisError, OSError):
        return False


def test_a_hung_broker_fails_the_intake_within_seconds_and_keeps_no_inbox_row(
    settings: Settings, db: Engine, broker: RedisServer
) -> None:
    on_test_broker = settings.model_copy(update={"celery_broker_url": broker.url})
    queue = TaskQueue(make_celery(on_test_broker), settings.task_queue)
    unit_of_work = partial(transaction, sessionmaker(db))
    take = partial(accept, transaction=unit_of_work, enqueue=queue.enqueue)
    assert take(parse_new_order(new_order_event())) is Outcome.ACCEPTED  # connected

    broker.freeze()
    event = parse_new_order(new_order_event())
    answers: list[object] = []

    def attempt() -> None:
        try:
            answers.append(take(event))
        except Exception as exc:
            answers.append(exc)

    began = time.monotonic()
    intake = threading.Thread(target=attempt, daemon=True)  # on old code it would never return
    intake.start()
    intake.join(BUDGET_SECONDS)
    assert not intake.is_alive(), f"the intake still blocked after {BUDGET_SECONDS:.0f} s"
    assert time.monotonic() - began < BUDGET_SECONDS
    [refused] = answers
    assert isinstance(refused, Exception)
    assert count(db, ProcessedEvent) == 1  # rolled back: the redelivered event is new again

    broker.thaw()
    assert take(event) is Outcome.ACCEPTED
    assert count(db, ProcessedEvent) == 2
    assert Redis.from_url(broker.url).llen(settings.task_queue) >= 2


def test_the_consumer_backs_off_while_the_broker_hangs_and_resumes_after(
    settings: Settings, db: Engine, broker: RedisServer, start
) -> None:
    broker.freeze()
    produce(settings, json.dumps(new_order_event()).encode())
    consumer = start("consumer", settings, PROCESSOR_CELERY_BROKER_URL=broker.url)

    def retries() -> int:
        return sum(1 for e in consumer.events() if e["event"] == "consumer.retry")

    eventually(lambda: retries() >= 2, 60, "the consumer backing off")
    assert count(db, ProcessedEvent) == 0

    broker.thaw()
    eventually(
        lambda: any(e["event"] == "consumer.task_queued" for e in consumer.events()),
        30,
        "the event taken in once the broker answers",
    )
    consumer.stop()
    assert count(db, ProcessedEvent) == 1
