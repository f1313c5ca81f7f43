"""The orders API against real PostgreSQL and Redis: every success and error code of API.md."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from orders_service.db.models import Order, OutboxMessage
from tests.helpers import SigningKey, bearer, ed25519_key, item, mint
from tests.integration.conftest import Auth, create_order

ALICE, BOB = 101, 202


def parse_utc(value: str) -> datetime:
    assert value.endswith("Z"), value
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() == timedelta(0)
    return parsed


# ------------------------------------------------------------------------------ create


async def test_create_returns_the_order_with_a_computed_total(
    client: httpx.AsyncClient, auth: Auth
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
    assert order["items"][0] == {"product_id": "sku-1", "name": None, "quantity": 3, "price": 19.99}
    assert order["items"][1]["price"] == 2.5
    assert parse_utc(order["created_at"]) == parse_utc(order["updated_at"])
    assert response.headers["location"] == f"/orders/{order['id']}/"


async def test_create_accepts_a_matching_total_price(client: httpx.AsyncClient, auth: Auth) -> None:
    body = {"items": [item(quantity=3, price=0.1)], "total_price": "0.30"}
    response = await client.post("/orders/", json=body, headers=auth(ALICE))
    assert response.status_code == 201, response.text
    assert response.json()["total_price"] == 0.3


async def test_create_stores_the_row_and_an_outbox_message_in_one_go(
    app: FastAPI, client: httpx.AsyncClient, auth: Auth
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
    app: FastAPI, client: httpx.AsyncClient, auth: Auth
) -> None:
    headers = {**auth(ALICE), "X-Request-ID": "req-abc-123"}
    await create_order(client, headers)

    async with app.state.sessionmaker() as session:
        message = (await session.scalars(select(OutboxMessage))).one()
    assert message.payload["correlation_id"] == "req-abc-123"
    assert message.headers["correlation_id"] == "req-abc-123"


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


@pytest.mark.parametrize(("case", "body"), INVALID_BODIES, ids=[c for c, _ in INVALID_BODIES])
async def test_create_refuses_invalid_orders_with_422(
    app: FastAPI, client: httpx.AsyncClient, auth: Auth, case: str, body: Any
) -> None:
    if isinstance(body, str):
        response = await client.post(
            "/orders/", content=body, headers={**auth(ALICE), "Content-Type": "application/json"}
        )
    else:
        response = await client.post("/orders/", json=body, headers=auth(ALICE))

    assert response.status_code == 422, (case, response.text)
    assert isinstance(response.json()["detail"], list)  # FastAPI's validation shape
    async with app.state.sessionmaker() as session:
        assert (await session.scalars(select(Order))).all() == []


async def test_the_largest_total_fits(client: httpx.AsyncClient, auth: Auth) -> None:
    # 9 999 999 999.99 = 9999 x 1 000 000 + 999 999.99 + ...: built from valid items
    items = [item(quantity=9_999, price="1000000")]
    items += [item(quantity=1, price="999999.99")]
    response = await client.post("/orders/", json={"items": items}, headers=auth(ALICE))
    assert response.status_code == 201, response.text
    assert response.json()["total_price"] == 9_999_999_999.99


# ------------------------------------------------------------------------------ auth


async def test_every_endpoint_needs_a_token(client: httpx.AsyncClient) -> None:
    some_id = uuid.uuid4()
    calls = [
        client.post("/orders/", json={"items": [item()]}),
        client.get(f"/orders/{some_id}/"),
        client.patch(f"/orders/{some_id}/", json={"status": "PAID"}),
        client.get(f"/orders/user/{ALICE}/"),
    ]
    for response in await asyncio.gather(*calls):
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json() == {"detail": "not authenticated"}


def bad_tokens(key: SigningKey) -> dict[str, str]:
    other = ed25519_key(key.kid)  # same kid, different key: a forged signature
    return {
        "garbage": "not-a-jwt",
        "expired": mint(key, ALICE, expires_in=-60),
        "wrong issuer": mint(key, ALICE, iss="someone-else"),
        "wrong audience": mint(key, ALICE, aud="another-api"),
        "no exp": mint(key, ALICE, drop=("exp",)),
        "no iat": mint(key, ALICE, drop=("iat",)),
        "no sub": mint(key, ALICE, drop=("sub",)),
        "no iss": mint(key, ALICE, drop=("iss",)),
        "no aud": mint(key, ALICE, drop=("aud",)),
        "sub not a user id": mint(key, "alice"),
        "forged signature": mint(other, ALICE),
        "HS256 with the public key as secret": _hs256_with(key),
        "alg none": _unsigned(),
        "tampered payload": _tampered(mint(key, ALICE)),
    }


def _hs256_with(key: SigningKey) -> str:
    import base64
    import hashlib
    import hmac
    import json

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": key.kid}).encode())
    payload = b64(json.dumps({"sub": str(ALICE), "iss": "x", "aud": "y"}).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = hmac.new(key.public_pem, signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(signature)}"


def _unsigned() -> str:
    import base64
    import json

    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64({'sub': str(ALICE)})}."


def _tampered(token: str) -> str:
    import base64
    import json

    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = str(BOB)
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


async def test_bad_tokens_get_401_with_www_authenticate(
    client: httpx.AsyncClient, signing_key: SigningKey
) -> None:
    for case, token in bad_tokens(signing_key).items():
        response = await client.get(f"/orders/user/{ALICE}/", headers=bearer(token))
        assert response.status_code == 401, (case, response.text)
        assert response.headers["www-authenticate"] == "Bearer", case
        assert response.json() == {"detail": "invalid or expired token"}, case


async def test_a_token_is_checked_before_the_body(client: httpx.AsyncClient) -> None:
    response = await client.post("/orders/", json={"items": []})
    assert response.status_code == 401


# ------------------------------------------------------------------------------ get


async def test_get_returns_the_owners_order(client: httpx.AsyncClient, auth: Auth) -> None:
    created = await create_order(client, auth(ALICE))
    response = await client.get(f"/orders/{created['id']}/", headers=auth(ALICE))
    assert response.status_code == 200
    assert response.json() == created


async def test_get_of_another_users_order_is_403(client: httpx.AsyncClient, auth: Auth) -> None:
    created = await create_order(client, auth(ALICE))
    response = await client.get(f"/orders/{created['id']}/", headers=auth(BOB))
    assert response.status_code == 403
    assert response.json() == {"detail": "this order belongs to another user"}


async def test_get_of_an_unknown_order_is_404(client: httpx.AsyncClient, auth: Auth) -> None:
    response = await client.get(f"/orders/{uuid.uuid4()}/", headers=auth(ALICE))
    assert response.status_code == 404
    assert response.json() == {"detail": "order not found"}


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "123", "user"])
async def test_get_with_a_bad_uuid_is_422(
    client: httpx.AsyncClient, auth: Auth, bad_id: str
) -> None:
    response = await client.get(f"/orders/{bad_id}/", headers=auth(ALICE))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "order_id"]


# ------------------------------------------------------------------------------ patch

ALLOWED = [
    ("PAID",),
    ("CANCELED",),
    ("PAID", "SHIPPED"),
    ("PAID", "CANCELED"),
]


@pytest.mark.parametrize("path", ALLOWED, ids=["->".join(p) for p in ALLOWED])
async def test_allowed_transitions(
    client: httpx.AsyncClient, auth: Auth, path: tuple[str, ...]
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


@pytest.mark.parametrize(
    ("before", "target"),
    FORBIDDEN_TRANSITIONS,
    ids=lambda v: "->".join(v) if isinstance(v, tuple) else v,
)
async def test_forbidden_transitions_are_409(
    client: httpx.AsyncClient, auth: Auth, before: tuple[str, ...], target: str
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
    client: httpx.AsyncClient, auth: Auth, path: tuple[str, ...]
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


async def test_patch_of_another_users_order_is_403(client: httpx.AsyncClient, auth: Auth) -> None:
    order = await create_order(client, auth(ALICE))
    response = await client.patch(
        f"/orders/{order['id']}/", json={"status": "CANCELED"}, headers=auth(BOB)
    )
    assert response.status_code == 403
    current = await client.get(f"/orders/{order['id']}/", headers=auth(ALICE))
    assert current.json()["status"] == "PENDING"


async def test_patch_of_an_unknown_order_is_404(client: httpx.AsyncClient, auth: Auth) -> None:
    response = await client.patch(
        f"/orders/{uuid.uuid4()}/", json={"status": "PAID"}, headers=auth(ALICE)
    )
    assert response.status_code == 404


@pytest.mark.parametrize(
    "body",
    [{}, {"status": "LOST"}, {"status": "paid"}, {"status": None}, {"status": "PAID", "x": 1}],
)
async def test_patch_with_a_bad_body_is_422(
    client: httpx.AsyncClient, auth: Auth, body: dict[str, Any]
) -> None:
    order = await create_order(client, auth(ALICE))
    response = await client.patch(f"/orders/{order['id']}/", json=body, headers=auth(ALICE))
    assert response.status_code == 422, response.text


async def test_patch_with_a_bad_uuid_is_422(client: httpx.AsyncClient, auth: Auth) -> None:
    response = await client.patch("/orders/nope/", json={"status": "PAID"}, headers=auth(ALICE))
    assert response.status_code == 422


async def test_concurrent_patches_are_serialised_by_the_row_lock(
    client: httpx.AsyncClient, auth: Auth
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


# ------------------------------------------------------------------------------ list


async def test_list_is_newest_first_and_paginated(client: httpx.AsyncClient, auth: Auth) -> None:
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
    client: httpx.AsyncClient, auth: Auth, offset: int
) -> None:
    await create_order(client, auth(ALICE))
    response = await client.get(f"/orders/user/{ALICE}/?offset={offset}", headers=auth(ALICE))
    assert response.status_code == 200, response.text
    assert response.json() == []
    too_far = await client.get(f"/orders/user/{ALICE}/?offset={2**63}", headers=auth(ALICE))
    assert too_far.status_code == 422


async def test_trailing_zeros_are_no_decimals(client: httpx.AsyncClient, auth: Auth) -> None:
    body = {"items": [item(price="1.500", quantity=3)], "total_price": "4.5000"}
    response = await client.post("/orders/", json=body, headers=auth(ALICE))
    assert response.status_code == 201, response.text
    assert response.json()["items"][0]["price"] == 1.5
    assert response.json()["total_price"] == 4.5


async def test_list_default_limit_is_50(client: httpx.AsyncClient, auth: Auth) -> None:
    body = {"items": [item()]}
    for _ in range(51):
        response = await client.post("/orders/", json=body, headers=auth(ALICE))
        assert response.status_code == 201
    response = await client.get(f"/orders/user/{ALICE}/", headers=auth(ALICE))
    assert len(response.json()) == 50
    response = await client.get(f"/orders/user/{ALICE}/?limit=100", headers=auth(ALICE))
    assert len(response.json()) == 51


async def test_list_of_a_user_without_orders_is_empty(
    client: httpx.AsyncClient, auth: Auth
) -> None:
    response = await client.get(f"/orders/user/{ALICE}/", headers=auth(ALICE))
    assert response.status_code == 200
    assert response.json() == []


async def test_list_of_another_user_is_403(client: httpx.AsyncClient, auth: Auth) -> None:
    await create_order(client, auth(ALICE))
    response = await client.get(f"/orders/user/{ALICE}/", headers=auth(BOB))
    assert response.status_code == 403


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=101", "limit=x", "offset=-1", "offset=x", "limit=1.5"]
)
async def test_list_with_bad_paging_is_422(
    client: httpx.AsyncClient, auth: Auth, query: str
) -> None:
    response = await client.get(f"/orders/user/{ALICE}/?{query}", headers=auth(ALICE))
    assert response.status_code == 422


async def test_list_with_a_non_integer_user_id_is_422(
    client: httpx.AsyncClient, auth: Auth
) -> None:
    response = await client.get("/orders/user/alice/", headers=auth(ALICE))
    assert response.status_code == 422


# ------------------------------------------------------------------------------ docs


async def test_openapi_documents_the_codes_and_the_bearer_scheme(
    client: httpx.AsyncClient,
) -> None:
    schema = (await client.get("/openapi.json")).json()
    paths = schema["paths"]
    assert set(paths["/orders/"]["post"]["responses"]) >= {"201", "401", "422", "429"}
    assert set(paths["/orders/{order_id}/"]["get"]["responses"]) >= {
        "200",
        "401",
        "403",
        "404",
        "422",
    }
    assert set(paths["/orders/{order_id}/"]["patch"]["responses"]) >= {
        "200",
        "401",
        "403",
        "404",
        "409",
        "422",
    }
    assert set(paths["/orders/user/{user_id}/"]["get"]["responses"]) >= {"200", "401", "403"}
    scheme = schema["components"]["securitySchemes"]["OAuth2PasswordBearer"]
    assert scheme["flows"]["password"]["tokenUrl"] == "/token/"
    assert "9 999 999 999.99" in paths["/orders/"]["post"]["description"]
