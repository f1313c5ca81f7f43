"""POST /orders/ against real PostgreSQL: the order, its computed total, its outbox event, and
every body the API refuses with 422."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from orders_service.db.models import Order, OutboxMessage
from tests.support import Auth, create_order, item, parse_utc

ALICE = 101


class TestCreate:
    """A valid order is stored with its `new_order` event and answered as created."""

    async def test_create_returns_the_order_with_a_computed_total(
        self, client: httpx.AsyncClient, auth: Auth
    ) -> None:
        body = {
            "items": [
                {"product_id": "sku-1", "quantity": 3, "price": "19.99"},
                {"name": "Gift wrap", "quantity": 1, "price": 2.5},
            ]
        }
        response = await client.post("/orders/", json=body, headers=auth(ALICE))

        assert response.status_code == 201, response.text
        order = response.json()
        assert set(order) == {
            "id",
            "user_id",
            "items",
            "total_price",
            "status",
            "created_at",
            "updated_at",
        }
        uuid.UUID(order["id"])
        assert order["user_id"] == ALICE
        assert order["total_price"] == 62.47  # a JSON number, computed with Decimal
        assert order["status"] == "PENDING"
        assert order["items"][0] == {
            "product_id": "sku-1",
            "name": None,
            "quantity": 3,
            "price": 19.99,
        }
        assert order["items"][1]["price"] == 2.5
        assert parse_utc(order["created_at"]) == parse_utc(order["updated_at"])
        assert response.headers["location"] == f"/orders/{order['id']}/"

    async def test_create_accepts_a_matching_total_price(
        self, client: httpx.AsyncClient, auth: Auth
    ) -> None:
        body = {"items": [item(quantity=3, price=0.1)], "total_price": "0.30"}
        response = await client.post("/orders/", json=body, headers=auth(ALICE))
        assert response.status_code == 201, response.text
        assert response.json()["total_price"] == 0.3

    async def test_create_stores_the_row_and_an_outbox_message_in_one_go(
        self, app: FastAPI, client: httpx.AsyncClient, auth: Auth
    ) -> None:
        order = await create_order(client, auth(ALICE), total_price=10)

        async with app.state.sessionmaker() as session:
            row = await session.get(Order, uuid.UUID(order["id"]))
            messages = (await session.scalars(select(OutboxMessage))).all()
        assert row is not None and row.user_id == ALICE and str(row.total_price) == "10.00"
        assert len(messages) == 1
        message = messages[0]
        assert message.topic == "new_order"
        assert message.key == order["id"]
        assert message.payload["event_type"] == "new_order"
        assert message.payload["data"]["order_id"] == order["id"]
        assert message.payload["data"]["user_id"] == ALICE
        assert message.payload["data"]["total_price"] == 10

    async def test_the_request_id_travels_into_the_outbox_message(
        self, app: FastAPI, client: httpx.AsyncClient, auth: Auth
    ) -> None:
        headers = {**auth(ALICE), "X-Request-ID": "req-abc-123"}
        await create_order(client, headers)

        async with app.state.sessionmaker() as session:
            message = (await session.scalars(select(OutboxMessage))).one()
        assert message.payload["correlation_id"] == "req-abc-123"
        assert message.headers["correlation_id"] == "req-abc-123"

    async def test_the_largest_total_fits(self, client: httpx.AsyncClient, auth: Auth) -> None:
        # 9 999 999 999.99 = 9999 x 1 000 000 + 999 999.99 + ...: built from valid items
        items = [item(quantity=9_999, price="1000000")]
        items += [item(quantity=1, price="999999.99")]
        response = await client.post("/orders/", json={"items": items}, headers=auth(ALICE))
        assert response.status_code == 201, response.text
        assert response.json()["total_price"] == 9_999_999_999.99

    async def test_trailing_zeros_are_no_decimals(
        self, client: httpx.AsyncClient, auth: Auth
    ) -> None:
        body = {"items": [item(price="1.500", quantity=3)], "total_price": "4.5000"}
        response = await client.post("/orders/", json=body, headers=auth(ALICE))
        assert response.status_code == 201, response.text
        assert response.json()["items"][0]["price"] == 1.5
        assert response.json()["total_price"] == 4.5


INVALID_BODIES: list[tuple[str, Any]] = [
    ("no items", {"items": []}),
    ("items missing", {}),
    ("101 items", {"items": [item()] * 101}),
    ("neither product_id nor name", {"items": [{"quantity": 1, "price": "1.00"}]}),
    ("empty product_id", {"items": [item(product_id="")]}),
    ("product_id of 65", {"items": [item(product_id="p" * 65)]}),
    ("empty name", {"items": [item(name="")]}),
    ("name of 201", {"items": [item(name="n" * 201)]}),
    ("product_id not a string", {"items": [item(product_id=12)]}),
    ("quantity 0", {"items": [item(quantity=0)]}),
    ("quantity 10001", {"items": [item(quantity=10_001)]}),
    ("quantity a float", {"items": [item(quantity=2.0)]}),
    ("quantity a string", {"items": [item(quantity="2")]}),
    ("quantity a bool", {"items": [item(quantity=True)]}),
    ("quantity missing", {"items": [{"name": "x", "price": "1.00"}]}),
    ("price 0", {"items": [item(price=0)]}),
    ("price negative", {"items": [item(price="-1.00")]}),
    ("price above 1 000 000", {"items": [item(price="1000000.01")]}),
    ("price with 3 decimals", {"items": [item(price="9.999")]}),
    ("price a float with 3 decimals", {"items": [item(price=0.125)]}),
    ("price not a number", {"items": [item(price="ten")]}),
    ("price a bool", {"items": [item(price=True)]}),
    ("price NaN", {"items": [item(price="NaN")]}),
    ("price missing", {"items": [{"name": "x", "quantity": 1}]}),
    ("unknown item field", {"items": [item(colour="red")]}),
    ("unknown order field", {"items": [item()], "user_id": 7}),
    ("total_price mismatch", {"items": [item(quantity=2, price="9.99")], "total_price": 19.97}),
    ("total_price with 3 decimals", {"items": [item()], "total_price": "19.981"}),
    (
        "total above NUMERIC(12,2)",
        {"items": [item(quantity=10_000, price="1000000")] * 2},
    ),
    ("not JSON", "not json"),
    # values JSON parsers accept but an order cannot hold (raw bodies: sent as written)
    ("price NaN literal", '{"items": [{"name": "x", "quantity": 1, "price": NaN}]}'),
    ("price Infinity literal", '{"items": [{"name": "x", "quantity": 1, "price": Infinity}]}'),
    ("price 1e400", '{"items": [{"name": "x", "quantity": 1, "price": 1e400}]}'),
    ("items NaN", '{"items": NaN}'),
    ("NUL in name", '{"items": [{"name": "a\\u0000", "quantity": 1, "price": 1}]}'),
    ("lone surrogate in name", '{"items": [{"name": "\\ud800", "quantity": 1, "price": 1}]}'),
    ("blank name", {"items": [item(name="   ")]}),
    ("control character in product_id", {"items": [item(product_id="sku\t1")]}),
    ("price with underscores", {"items": [item(price="1_000")]}),
    ("price with a sign", {"items": [item(price="+1.50")]}),
    ("price with spaces", {"items": [item(price=" 1.50 ")]}),
    ("price with an exponent", {"items": [item(price="1e3")]}),
    ("price in other digits", {"items": [item(price="\u0661\u0662")]}),
]


class TestInvalidOrders:
    """Every body an order cannot be made of is a 422 that stores nothing."""

    @pytest.mark.parametrize(("case", "body"), INVALID_BODIES, ids=[c for c, _ in INVALID_BODIES])
    async def test_create_refuses_invalid_orders_with_422(
        self, app: FastAPI, client: httpx.AsyncClient, auth: Auth, case: str, body: Any
    ) -> None:
        if isinstance(body, str):
            response = await client.post(
                "/orders/",
                content=body,
                headers={**auth(ALICE), "Content-Type": "application/json"},
            )
        else:
            response = await client.post("/orders/", json=body, headers=auth(ALICE))

        assert response.status_code == 422, (case, response.text)
        assert isinstance(response.json()["detail"], list)  # FastAPI's validation shape
        async with app.state.sessionmaker() as session:
            assert (await session.scalars(select(Order))).all() == []
