"""PATCH /orders/{id}/: the status machine of API.md, its errors, and concurrent changes."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from tests.support import Auth, create_order, parse_utc

ALICE, BOB = 101, 202

ALLOWED = [
    ("PAID",),
    ("CANCELED",),
    ("PAID", "SHIPPED"),
    ("PAID", "CANCELED"),
]


FORBIDDEN_TRANSITIONS = [
    ((), "SHIPPED"),
    (("PAID",), "PENDING"),
    (("PAID", "SHIPPED"), "PAID"),
    (("PAID", "SHIPPED"), "CANCELED"),
    (("PAID", "SHIPPED"), "PENDING"),
    (("CANCELED",), "PAID"),
    (("CANCELED",), "SHIPPED"),
    (("CANCELED",), "PENDING"),
]


class TestTransitions:
    """Only the transitions of the status machine happen; the current status again is a no-op."""

    @pytest.mark.parametrize("path", ALLOWED, ids=["->".join(p) for p in ALLOWED])
    async def test_allowed_transitions(
        self, client: httpx.AsyncClient, auth: Auth, path: tuple[str, ...]
    ) -> None:
        order = await create_order(client, auth(ALICE))
        previous = parse_utc(order["updated_at"])
        for status in path:
            response = await client.patch(
                f"/orders/{order['id']}/", json={"status": status}, headers=auth(ALICE)
            )
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["status"] == status
            assert parse_utc(body["updated_at"]) > previous
            assert body["created_at"] == order["created_at"]
            previous = parse_utc(body["updated_at"])
        stored = await client.get(f"/orders/{order['id']}/", headers=auth(ALICE))
        assert stored.json()["status"] == path[-1]

    @pytest.mark.parametrize(
        ("before", "target"),
        FORBIDDEN_TRANSITIONS,
        ids=lambda v: "->".join(v) if isinstance(v, tuple) else v,
    )
    async def test_forbidden_transitions_are_409(
        self, client: httpx.AsyncClient, auth: Auth, before: tuple[str, ...], target: str
    ) -> None:
        order = await create_order(client, auth(ALICE))
        for status in before:
            response = await client.patch(
                f"/orders/{order['id']}/", json={"status": status}, headers=auth(ALICE)
            )
            assert response.status_code == 200
        response = await client.patch(
            f"/orders/{order['id']}/", json={"status": target}, headers=auth(ALICE)
        )
        assert response.status_code == 409, response.text
        assert "not allowed" in response.json()["detail"]
        current = await client.get(f"/orders/{order['id']}/", headers=auth(ALICE))
        assert current.json()["status"] == (before[-1] if before else "PENDING")

    @pytest.mark.parametrize("path", [("PENDING",), ("PAID", "PAID"), ("CANCELED", "CANCELED")])
    async def test_the_same_status_again_is_a_200_no_op(
        self, client: httpx.AsyncClient, auth: Auth, path: tuple[str, ...]
    ) -> None:
        order = await create_order(client, auth(ALICE))
        last: dict[str, Any] = order
        for status in path:
            response = await client.patch(
                f"/orders/{order['id']}/", json={"status": status}, headers=auth(ALICE)
            )
            assert response.status_code == 200, response.text
            if response.json()["status"] == last["status"]:
                assert response.json() == last  # unchanged, updated_at included
            last = response.json()


class TestRefusedChanges:
    """A change of another user's or an unknown order, or a malformed one, changes nothing."""

    async def test_patch_of_another_users_order_is_403(
        self, client: httpx.AsyncClient, auth: Auth
    ) -> None:
        order = await create_order(client, auth(ALICE))
        response = await client.patch(
            f"/orders/{order['id']}/", json={"status": "CANCELED"}, headers=auth(BOB)
        )
        assert response.status_code == 403
        current = await client.get(f"/orders/{order['id']}/", headers=auth(ALICE))
        assert current.json()["status"] == "PENDING"

    async def test_patch_of_an_unknown_order_is_404(
        self, client: httpx.AsyncClient, auth: Auth
    ) -> None:
        response = await client.patch(
            f"/orders/{uuid.uuid4()}/", json={"status": "PAID"}, headers=auth(ALICE)
        )
        assert response.status_code == 404

    @pytest.mark.parametrize(
        "body",
        [{}, {"status": "LOST"}, {"status": "paid"}, {"status": None}, {"status": "PAID", "x": 1}],
    )
    async def test_patch_with_a_bad_body_is_422(
        self, client: httpx.AsyncClient, auth: Auth, body: dict[str, Any]
    ) -> None:
        order = await create_order(client, auth(ALICE))
        response = await client.patch(f"/orders/{order['id']}/", json=body, headers=auth(ALICE))
        assert response.status_code == 422, response.text

    async def test_patch_with_a_bad_uuid_is_422(
        self, client: httpx.AsyncClient, auth: Auth
    ) -> None:
        response = await client.patch("/orders/nope/", json={"status": "PAID"}, headers=auth(ALICE))
        assert response.status_code == 422


class TestConcurrentChanges:
    """Changes of one order queue up behind its row lock."""

    async def test_concurrent_patches_are_serialised_by_the_row_lock(
        self, client: httpx.AsyncClient, auth: Auth
    ) -> None:
        """PAID->SHIPPED and PAID->CANCELED at once: exactly one wins, the other sees its result."""
        for _ in range(5):
            order = await create_order(client, auth(ALICE))
            url = f"/orders/{order['id']}/"
            await client.patch(url, json={"status": "PAID"}, headers=auth(ALICE))

            shipped, canceled = await asyncio.gather(
                client.patch(url, json={"status": "SHIPPED"}, headers=auth(ALICE)),
                client.patch(url, json={"status": "CANCELED"}, headers=auth(ALICE)),
            )

            codes = sorted([shipped.status_code, canceled.status_code])
            assert codes == [200, 409], (shipped.text, canceled.text)
            winner = shipped if shipped.status_code == 200 else canceled
            final = await client.get(url, headers=auth(ALICE))
            assert final.json()["status"] == winner.json()["status"]
