"""Stop real servers of the stack and count what was accepted, published, processed and lost."""

from __future__ import annotations

import json
import time
from collections import Counter

import httpx
import pytest

from stack_control import kill, log_text, stopped
from stack_control.waiting import eventually
from tests.clients import (
    ITEMS,
    Sql,
    Stack,
    User,
    processed_count,
    published_count,
    unpublished_count,
)

pytestmark = pytest.mark.timeout(300)


def _create(http: httpx.Client, stack: Stack, user: User, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        response = http.post(f"{stack.gateway}/orders/", json={"items": ITEMS}, headers=user.auth)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


def _assert_each_processed_once(order_ids: list[str]) -> None:
    """The task's effect, counted in the worker's log: one 'order processed' line per order."""
    text = log_text("worker")
    counts = Counter(
        entry.get("order_id")
        for entry in (json.loads(line) for line in text.splitlines() if line.startswith("{"))
        if entry.get("event") == "order processed"
    )
    assert {order_id: counts[order_id] for order_id in order_ids} == dict.fromkeys(order_ids, 1)


def _outbox_backlog(http: httpx.Client, stack: Stack) -> float:
    for line in http.get(f"{stack.url('ORDERS')}/metrics").text.splitlines():
        if line.startswith("orders_outbox_backlog "):
            return float(line.split()[1])
    return -1.0


def test_redis_down_reads_and_writes_still_work_and_events_wait_for_the_broker(
    stack: Stack, http: httpx.Client, alice: User, processor_db: Sql
) -> None:
    (before,) = _create(http, stack, alice, 1)
    with stopped("redis"):
        (during,) = _create(http, stack, alice, 1)
        for order_id in (before, during):
            got = http.get(f"{stack.gateway}/orders/{order_id}/", headers=alice.auth)
            assert got.status_code == 200, got.text
        paid = http.patch(
            f"{stack.gateway}/orders/{during}/", json={"status": "PAID"}, headers=alice.auth
        )
        assert paid.status_code == 200
        listed = http.get(f"{stack.gateway}/orders/user/{alice.id}/", headers=alice.auth)
        assert {before, during} <= {o["id"] for o in listed.json()}
    got = http.get(f"{stack.gateway}/orders/{during}/", headers=alice.auth)
    assert got.json()["status"] == "PAID"
    # Redis is also Celery's broker: the consumer held the event until it could queue the task.
    eventually(
        lambda: processed_count(processor_db, [before, during]) == 2, 90, "both processed once"
    )


def test_kafka_down_orders_accepted_then_every_event_delivered_once(
    stack: Stack,
    http: httpx.Client,
    alice: User,
    orders_db: Sql,
    processor_db: Sql,
) -> None:
    with stopped("kafka"):
        accepted = _create(http, stack, alice, 20)
        time.sleep(1)  # give the relay time to try (and fail) at least once
        assert unpublished_count(orders_db, accepted) == 20  # the backlog waits in the outbox
        eventually(lambda: _outbox_backlog(http, stack) >= 20, 15, "the backlog shown on /metrics")
    published = eventually(
        lambda: published_count(orders_db, accepted) == 20 or None, 120, "backlog published"
    )
    assert published
    eventually(lambda: processed_count(processor_db, accepted) == 20, 120, "all processed")
    assert processed_count(processor_db, accepted) == 20  # none lost; the key forbids two
    _assert_each_processed_once(accepted)


def test_consumer_and_worker_down_events_wait_and_are_processed_once(
    stack: Stack, http: httpx.Client, alice: User, processor_db: Sql
) -> None:
    with stopped("worker"), stopped("consumer"):
        accepted = _create(http, stack, alice, 5)
        time.sleep(1)
        assert processed_count(processor_db, accepted) == 0
    eventually(lambda: processed_count(processor_db, accepted) == 5, 90, "processed after restart")
    _assert_each_processed_once(accepted)


def test_postgres_down_gives_json_503_fast_and_recovers_without_restart(
    stack: Stack, http: httpx.Client, alice: User, processor_db: Sql
) -> None:
    # Its task works for ORDER_PROCESSING_SECONDS, so it records the order while PostgreSQL is
    # down: the task waits the outage out instead of failing.
    (order_id,) = _create(http, stack, alice, 1)
    with stopped("postgres"):
        for method, path, body in (
            ("POST", "/orders/", {"items": ITEMS}),
            ("GET", f"/orders/user/{alice.id}/", None),
        ):
            started = time.monotonic()
            response = http.request(method, f"{stack.gateway}{path}", json=body, headers=alice.auth)
            elapsed = time.monotonic() - started
            assert response.status_code == 503, response.text
            assert response.json()["detail"]
            assert elapsed < 2.0, f"{method} {path} took {elapsed:.2f} s"
        ready = http.get(f"{stack.url('ORDERS')}/health/ready")
        assert ready.status_code == 503
        assert "postgres" in ready.json()["failing"]

    def answered() -> httpx.Response | None:
        response = http.get(f"{stack.gateway}/orders/user/{alice.id}/", headers=alice.auth)
        return response if response.status_code == 200 else None

    got = eventually(answered, 30, "orders answers again")
    assert order_id in [o["id"] for o in got.json()]
    eventually(lambda: processed_count(processor_db, [order_id]) == 1, 90, "processed once")
    assert http.get(f"{stack.url('AUTH')}/health/ready").status_code == 200


def test_worker_killed_mid_task_the_order_is_still_processed_once(
    stack: Stack, http: httpx.Client, alice: User, processor_db: Sql
) -> None:
    (order_id,) = _create(http, stack, alice, 1)

    def started() -> bool:
        return any(
            order_id in line and "order.processing" in line
            for line in log_text("worker").splitlines()
        )

    eventually(started, 30, "the task started")
    kill("worker")  # mid-task: it works ORDER_PROCESSING_SECONDS before recording the order
    assert processed_count(processor_db, [order_id]) == 0
    # The task was acknowledged late, so the broker hands it out again (after the visibility
    # timeout) to the worker the supervisor restarted.
    eventually(lambda: processed_count(processor_db, [order_id]) == 1, 150, "processed")
    _assert_each_processed_once([order_id])
