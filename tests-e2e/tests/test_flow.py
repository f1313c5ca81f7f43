"""The whole flow through the gateway, as a user and as the other services see it."""

from __future__ import annotations

import httpx

from tests.conftest import ITEMS, Sql, Stack, User, eventually, processed_count


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
