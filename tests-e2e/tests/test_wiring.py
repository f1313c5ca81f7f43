"""The stack is wired: services ready, gateway routes, Kafka, the consumer and the worker."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from celery import Celery
from confluent_kafka import Consumer, Producer, TopicPartition

from stack_control.waiting import eventually
from tests.clients import Sql, Stack


@pytest.mark.parametrize("service", ["AUTH", "ORDERS", "PROCESSOR"])
def test_every_service_is_ready_on_its_port(stack: Stack, http: httpx.Client, service: str) -> None:
    response = http.get(f"{stack.url(service)}/health/ready")
    assert response.status_code == 200, response.text
    assert response.json()["failing"] == []


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/register/"), ("POST", "/token/"), ("GET", "/users/me/"), ("GET", "/orders/x/")],
)
def test_gateway_routes_reach_the_services(
    stack: Stack, http: httpx.Client, method: str, path: str
) -> None:
    response = http.request(method, f"{stack.gateway}{path}")
    # Only the services set X-Request-ID: the answer came from behind the gateway.
    assert response.headers.get("x-request-id"), (path, response.status_code)
    assert "detail" in response.json()


def test_gateway_answers_unknown_paths_itself(stack: Stack, http: httpx.Client) -> None:
    response = http.get(f"{stack.gateway}/nowhere")
    assert response.status_code == 404
    assert "x-request-id" not in response.headers


def _new_order_event(order_id: uuid.UUID) -> dict[str, object]:
    now = datetime.now(UTC).isoformat()
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": "new_order",
        "event_version": 1,
        "occurred_at": now,
        "producer": "tests-e2e",
        "correlation_id": f"e2e-{order_id}",
        "data": {
            "order_id": str(order_id),
            "user_id": 424242,
            "items": [{"name": "wiring", "quantity": 1, "price": 1.5}],
            "total_price": 1.5,
            "status": "PENDING",
            "created_at": now,
        },
    }


def _processed(db: Sql, order_id: uuid.UUID) -> int:
    return db.scalar("SELECT count(*) FROM processed_orders WHERE order_id = %s", (order_id,))


def test_a_message_on_new_order_is_read_by_a_consumer_group(stack: Stack) -> None:
    order_id = uuid.uuid4()
    delivered: list[tuple[int | None, int | None]] = []
    producer = Producer({"bootstrap.servers": stack.kafka, "acks": "all"})
    producer.produce(
        "new_order",
        key=str(order_id).encode(),
        value=json.dumps(_new_order_event(order_id)).encode(),
        on_delivery=lambda err, msg: (
            delivered.append((msg.partition(), msg.offset())) if err is None else None
        ),
    )
    assert producer.flush(15) == 0 and delivered, "not delivered to Kafka"
    partition, offset = delivered[0]
    assert partition is not None and offset is not None

    consumer = Consumer(
        {
            "bootstrap.servers": stack.kafka,
            "group.id": f"e2e-wiring-{uuid.uuid4()}",
            "enable.auto.commit": False,
        }
    )
    try:
        consumer.assign([TopicPartition("new_order", partition, offset)])

        def read() -> bytes | None:
            msg = consumer.poll(1.0)
            return msg.key() if msg is not None and msg.error() is None else None

        assert eventually(read, 20, "message read back") == str(order_id).encode()
    finally:
        consumer.close()


def test_the_worker_runs_a_task(stack: Stack, processor_db: Sql) -> None:
    order_id = uuid.uuid4()
    event = _new_order_event(order_id)
    client = Celery(broker=stack.celery_broker)
    client.send_task(
        "order_processor.process_order",
        kwargs={"order": event["data"], "event_id": event["event_id"], "correlation_id": "e2e"},
        queue="orders",
    )
    eventually(lambda: _processed(processor_db, order_id), 30, "task effect in processed_orders")


def test_an_event_on_the_bus_is_processed_by_consumer_and_worker(
    stack: Stack, processor_db: Sql
) -> None:
    order_id = uuid.uuid4()
    producer = Producer({"bootstrap.servers": stack.kafka, "acks": "all"})
    producer.produce(
        "new_order", key=str(order_id).encode(), value=json.dumps(_new_order_event(order_id))
    )
    assert producer.flush(15) == 0
    eventually(lambda: _processed(processor_db, order_id), 45, "processed_orders row")
    assert _processed(processor_db, order_id) == 1


@pytest.mark.parametrize("service", ["AUTH", "ORDERS", "PROCESSOR"])
def test_every_service_serves_prometheus_metrics(
    stack: Stack, http: httpx.Client, service: str
) -> None:
    response = http.get(f"{stack.url(service)}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "http_requests_total" in response.text


def test_the_processor_reports_the_pipeline(stack: Stack, http: httpx.Client) -> None:
    text = http.get(f"{stack.url('PROCESSOR')}/metrics").text
    for gauge in (
        "order_processor_consumer_lag",
        "order_processor_queue_depth",
        "order_processor_processed_orders",
    ):
        assert f"\n{gauge} " in text
