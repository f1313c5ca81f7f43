"""GET /orders/{id}/ and GET /orders/user/{user_id}/: the owner reads, nobody else does."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.support import Auth, create_order, item

ALICE, BOB = 101, 202


class TestGetOrder:
    """One order, to its owner only."""

    async def test_get_returns_the_owners_order(
        self, client: httpx.AsyncClient, auth: Auth
    ) -> None:
        created = await create_order(client, auth(ALICE))
        response = await client.get(f"/orders/{created['id']}/", headers=auth(ALICE))
        assert response.status_code == 200
        assert response.json() == created

    async def test_get_of_another_users_order_is_403(
        self, client: httpx.AsyncClient, auth: Auth
    ) -> None:
        created = await create_order(client, auth(ALICE))
        response = await client.get(f"/orders/{created['id']}/", headers=auth(BOB))
        assert response.status_code == 403
        assert response.json() == {"detail": "this order belongs to another user"}

    async def test_get_of_an_unknown_order_is_404(
        self, client: httpx.AsyncClient, auth: Auth
    ) -> None:
        response = await client.get(f"/orders/{uuid.uuid4()}/", headers=auth(ALICE))
        assert response.status_code == 404
        assert response.json() == {"detail": "order not found"}

    @pytest.mark.parametrize("bad_id", ["not-a-uuid", "123", "user"])
    async def test_get_with_a_bad_uuid_is_422(
        self, client: httpx.AsyncClient, auth: Auth, bad_id: str
    ) -> None:
        response = await client.get(f"/orders/{bad_id}/", headers=auth(ALICE))
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["path", "order_id"]


class TestListOrders:
    """A user's orders, newest first and paginated, to that user only."""

    async def test_list_is_newest_first_and_paginated(
        self, client: httpx.AsyncClient, auth: Auth
    ) -> None:
        ids = [(await create_order(client, auth(ALICE)))["id"] for _ in range(7)]
        await create_order(client, auth(BOB))
        newest_first = list(reversed(ids))

        everything = await client.get(f"/orders/user/{ALICE}/", headers=auth(ALICE))
        assert everything.status_code == 200
        assert [o["id"] for o in everything.json()] == newest_first
        assert {o["user_id"] for o in everything.json()} == {ALICE}

        pages = []
        for offset in (0, 3, 6, 9):
            page = await client.get(
                f"/orders/user/{ALICE}/", params={"limit": 3, "offset": offset}, headers=auth(ALICE)
            )
            assert page.status_code == 200
            pages.append([o["id"] for o in page.json()])
        assert pages == [newest_first[0:3], newest_first[3:6], newest_first[6:7], []]

    @pytest.mark.parametrize("offset", [2**31, 2**63 - 1])
    async def test_an_offset_past_the_end_is_an_empty_list_up_to_the_bigint_maximum(
        self, client: httpx.AsyncClient, auth: Auth, offset: int
    ) -> None:
        await create_order(client, auth(ALICE))
        response = await client.get(f"/orders/user/{ALICE}/?offset={offset}", headers=auth(ALICE))
        assert response.status_code == 200, response.text
        assert response.json() == []
        too_far = await client.get(f"/orders/user/{ALICE}/?offset={2**63}", headers=auth(ALICE))
        assert too_far.status_code == 422

    async def test_list_default_limit_is_50(self, client: httpx.AsyncClient, auth: Auth) -> None:
        body = {"items": [item()]}
        for _ in range(51):
            response = await client.post("/orders/", json=body, headers=auth(ALICE))
            assert response.status_code == 201
        response = await client.get(f"/orders/user/{ALICE}/", headers=auth(ALICE))
        assert len(response.json()) == 50
        response = await client.get(f"/orders/user/{ALICE}/?limit=100", headers=auth(ALICE))
        assert len(response.json()) == 51

    async def test_list_of_a_user_without_orders_is_empty(
        self, client: httpx.AsyncClient, auth: Auth
    ) -> None:
        response = await client.get(f"/orders/user/{ALICE}/", headers=auth(ALICE))
        assert response.status_code == 200
        assert response.json() == []

    async def test_list_of_another_user_is_403(self, client: httpx.AsyncClient, auth: Auth) -> None:
        await create_order(client, auth(ALICE))
        response = await client.get(f"/orders/user/{ALICE}/", headers=auth(BOB))
        assert response.status_code == 403

    @pytest.mark.parametrize(
        "query", ["limit=0", "limit=101", "limit=x", "offset=-1", "offset=x", "limit=1.5"]
    )
    async def test_list_with_bad_paging_is_422(
        self, client: httpx.AsyncClient, auth: Auth, query: str
    ) -> None:
        response = await client.get(f"/orders/user/{ALICE}/?{query}", headers=auth(ALICE))
        assert response.status_code == 422

    async def test_list_with_a_non_integer_user_id_is_422(
        self, client: httpx.AsyncClient, auth: Auth
    ) -> None:
        response = await client.get("/orders/user/alice/", headers=auth(ALICE))
        assert response.status_code == 422
