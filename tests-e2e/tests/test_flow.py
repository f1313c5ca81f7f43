"""The whole flow through the gateway, as a user and as the other services see it."""

from __future__ import annotations

import json
import uuid

import httpx

from stack_control import log_text
from stack_control.waiting import eventually
from tests.clients import ITEMS, Sql, Stack, User, processed_count


def test_register_login_order_read_patch_list_and_processing(
    stack: Stack, http: httpx.Client, alice: User, processor_db: Sql
) -> None:
    gw = stack.gateway
    me = http.get(f"{gw}/users/me/", headers=alice.auth)
    assert me.status_code == 200
    assert me.json()["email"] == alice.email

    created = http.post(f"{gw}/orders/", json={"items": ITEMS}, headers=alice.auth)
    assert created.status_code == 201, created.text
    order = created.json()
    assert order["user_id"] == alice.id
    assert order["status"] == "PENDING"
    assert order["total_price"] == 9.0

    first = http.get(f"{gw}/orders/{order['id']}/", headers=alice.auth)
    second = http.get(f"{gw}/orders/{order['id']}/", headers=alice.auth)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json() == order

    paid = http.patch(f"{gw}/orders/{order['id']}/", json={"status": "PAID"}, headers=alice.auth)
    assert paid.status_code == 200
    assert paid.json()["status"] == "PAID"
    assert http.get(f"{gw}/orders/{order['id']}/", headers=alice.auth).json()["status"] == "PAID"

    listed = http.get(f"{gw}/orders/user/{alice.id}/", headers=alice.auth)
    assert listed.status_code == 200
    assert order["id"] in [o["id"] for o in listed.json()]

    eventually(lambda: processed_count(processor_db, [order["id"]]) == 1, 60, "order processed")


def test_another_users_order_and_list_are_forbidden(
    stack: Stack, http: httpx.Client, alice: User, bob: User
) -> None:
    gw = stack.gateway
    order = http.post(f"{gw}/orders/", json={"items": ITEMS}, headers=alice.auth).json()
    assert http.get(f"{gw}/orders/{order['id']}/", headers=bob.auth).status_code == 403
    patch = http.patch(f"{gw}/orders/{order['id']}/", json={"status": "PAID"}, headers=bob.auth)
    assert patch.status_code == 403
    assert http.get(f"{gw}/orders/user/{alice.id}/", headers=bob.auth).status_code == 403


def test_one_correlation_id_from_the_request_to_the_task_log(
    stack: Stack, http: httpx.Client, alice: User, processor_db: Sql
) -> None:
    correlation_id = f"e2e-{uuid.uuid4().hex}"
    created = http.post(
        f"{stack.gateway}/orders/",
        json={"items": ITEMS},
        headers={**alice.auth, "X-Request-ID": correlation_id},
    )
    assert created.status_code == 201
    assert created.headers["x-request-id"] == correlation_id
    order_id = created.json()["id"]

    def processed_line() -> dict[str, object] | None:
        for line in log_text("worker").splitlines():
            if order_id in line and line.startswith("{"):
                entry = json.loads(line)
                if entry.get("event") == "order processed":
                    return dict(entry)
        return None

    entry = eventually(processed_line, 60, "the worker's 'order processed' line")
    assert entry["order_id"] == order_id
    assert entry["correlation_id"] == correlation_id
    assert processed_count(processor_db, [order_id]) == 1
    consumer_log = log_text("consumer")
    assert any(
        order_id in line and correlation_id in line and "consumer.task_queued" in line
        for line in consumer_log.splitlines()
    )
