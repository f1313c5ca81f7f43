"""The new_order v1 contract: round trip, tolerant reader, strictness, committed schema."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from contracts import (
    NEW_ORDER_TOPIC,
    NewOrderEvent,
    NewOrderV1,
    build_new_order_event,
    event_headers,
    event_json_headers,
    new_order_event_json,
    parse_new_order,
)
from contracts.schema import SCHEMAS, committed_schema, current_schema


def _order() -> NewOrderV1:
    return NewOrderV1(
        order_id=uuid.uuid4(),
        user_id=7,
        items=[{"product_id": "sku-1", "quantity": 2, "price": Decimal("19.99")}],
        total_price=Decimal("39.98"),
        status="PENDING",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def test_round_trip_keeps_every_field() -> None:
    event = build_new_order_event(_order(), correlation_id="req-1")
    wire = event.model_dump_json()
    assert parse_new_order(wire) == event
    assert parse_new_order(wire.encode()) == event


def test_envelope_matches_the_contract() -> None:
    event = build_new_order_event(_order(), correlation_id="req-1")
    body = json.loads(event.model_dump_json())
    assert body["event_type"] == "new_order" == NEW_ORDER_TOPIC
    assert body["event_version"] == 1
    assert body["producer"] == "orders-service"
    assert body["correlation_id"] == "req-1"
    # money is a JSON number, not a string
    assert body["data"]["total_price"] == 39.98
    assert body["data"]["items"][0]["price"] == 19.99
    assert set(body) == {
        "event_id",
        "event_type",
        "event_version",
        "occurred_at",
        "producer",
        "correlation_id",
        "data",
    }


def test_headers_carry_event_id_type_and_correlation_id() -> None:
    event = build_new_order_event(_order(), correlation_id="req-9")
    assert dict(event_headers(event)) == {
        "event_id": str(event.event_id).encode(),
        "event_type": b"new_order",
        "correlation_id": b"req-9",
    }


def _order_json(items: list[dict[str, Any]]) -> dict[str, Any]:
    """An order as the API answers it (orders-service's OrderRead JSON)."""
    total = sum(Decimal(str(item["price"])) * item["quantity"] for item in items)
    return {
        "id": str(uuid.uuid4()),
        "user_id": 7,
        "items": items,
        "total_price": float(total),
        "status": "PENDING",
        "created_at": "2026-01-01T10:20:30.000001Z",
        "updated_at": "2026-01-01T10:20:30.000001Z",
    }


@pytest.mark.parametrize(
    "items",
    [
        [{"product_id": "sku-1", "name": None, "quantity": 2, "price": 19.99}],
        [
            {"product_id": None, "name": "Tea", "quantity": 1, "price": 1.25},
            {"product_id": "sku-2", "name": "Cup", "quantity": 10000, "price": 1000000.0},
        ],
    ],
)
@pytest.mark.parametrize("correlation_id", ["req-1", None])
def test_the_event_built_from_the_order_json_is_the_models_event(
    items: list[dict[str, Any]], correlation_id: str | None
) -> None:
    order = _order_json(items)
    built = new_order_event_json(order, correlation_id)
    # what the model makes of the same order, with the same id and instant
    data = NewOrderV1.model_validate({**order, "order_id": order["id"]})
    event = build_new_order_event(data, correlation_id, uuid.UUID(built["event_id"]))
    expected = event.model_copy(update={"occurred_at": parse_new_order(built).occurred_at})
    assert built == expected.model_dump(mode="json")
    assert json.loads(json.dumps(built)) == built
    assert dict(event_headers(expected)) == {
        name: value.encode() for name, value in event_json_headers(built).items()
    }


def test_every_event_built_from_an_order_json_has_its_own_id() -> None:
    order = _order_json([{"product_id": "sku-1", "name": None, "quantity": 1, "price": 1.0}])
    assert (
        new_order_event_json(order, None)["event_id"]
        != new_order_event_json(order, None)["event_id"]
    )


def test_v1_reader_ignores_unknown_fields() -> None:
    body = json.loads(build_new_order_event(_order(), None).model_dump_json())
    body["added_later"] = {"any": "thing"}
    body["data"]["coupon"] = "SPRING"
    body["data"]["items"][0]["color"] = "red"
    parsed = parse_new_order(json.dumps(body))
    assert parsed.data.items[0].product_id == "sku-1"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b.pop("event_id"),
        lambda b: b.update(event_type="order_paid"),
        lambda b: b.update(event_version=2),
        lambda b: b.pop("event_type"),
        lambda b: b.pop("event_version"),
        lambda b: b["data"].pop("order_id"),
        lambda b: b["data"].update(order_id="not-a-uuid"),
        lambda b: b["data"].update(items="nope"),
    ],
)
def test_reader_rejects_what_is_not_a_v1_new_order(mutate) -> None:
    body = json.loads(build_new_order_event(_order(), None).model_dump_json())
    mutate(body)
    with pytest.raises(ValidationError):
        parse_new_order(json.dumps(body))


def test_reader_rejects_bytes_that_are_not_json() -> None:
    with pytest.raises(ValidationError):
        parse_new_order(b"\x00not json")


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_committed_schema_matches_the_code(name: str) -> None:
    """Fails when the contract changes by accident. After an intended, additive change run
    `uv run python -m contracts.schema` and commit the new file; a breaking change needs a
    new event_version instead."""
    assert current_schema(name) == committed_schema(name)


def test_the_committed_schema_requires_type_and_version() -> None:
    required = committed_schema("new_order.v1.json")["required"]
    assert {"event_id", "event_type", "event_version", "occurred_at", "producer", "data"} <= set(
        required
    )


def test_event_class_is_the_v1_new_order() -> None:
    assert SCHEMAS["new_order.v1.json"] is NewOrderEvent
