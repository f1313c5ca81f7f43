"""Item and order rules (API.md), and the one Order -> JSON mapping."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from orders_service.db.models import OrderStatus
from orders_service.schemas import Item, OrderCreate, OrderRead, order_total


@pytest.mark.parametrize(
    ("price", "expected"),
    [
        (19.99, Decimal("19.99")),
        ("19.99", Decimal("19.99")),
        (5, Decimal("5")),
        ("0.01", Decimal("0.01")),
        ("1000000", Decimal("1000000")),
        ("1.50", Decimal("1.50")),
        ("1.500", Decimal("1.500")),  # the same value as 1.50: two significant decimals
    ],
)
def test_prices_are_numbers_or_decimal_strings(price: Any, expected: Decimal) -> None:
    assert Item(name="x", quantity=1, price=price).price == expected


@pytest.mark.parametrize(
    "price", [0, "0.00", -1, "1000000.01", "9.999", 0.125, "abc", True, None, "Infinity", [1]]
)
def test_bad_prices_are_refused(price: Any) -> None:
    with pytest.raises(ValidationError):
        Item(name="x", quantity=1, price=price)


@pytest.mark.parametrize("quantity", [0, 10_001, 1.0, "1", True, None])
def test_quantity_is_a_strict_int_in_range(quantity: Any) -> None:
    with pytest.raises(ValidationError):
        Item.model_validate({"name": "x", "quantity": quantity, "price": 1})


def test_an_item_needs_a_product_id_or_a_name() -> None:
    with pytest.raises(ValidationError, match="product_id or a name"):
        Item.model_validate({"quantity": 1, "price": 1})
    assert Item.model_validate({"product_id": "p", "quantity": 1, "price": 1}).name is None


def test_the_total_is_exact() -> None:
    items = [Item(name="x", quantity=3, price=Decimal("0.10")) for _ in range(10)]
    assert order_total(items) == Decimal("3.00")
    assert OrderCreate(items=items, total_price=Decimal("3")).total == Decimal("3.00")
    floats = OrderCreate.model_validate({"items": [{"name": "x", "quantity": 3, "price": 0.1}]})
    assert floats.total == Decimal("0.30")


def test_a_mismatched_total_is_refused() -> None:
    with pytest.raises(ValidationError, match="does not match"):
        OrderCreate.model_validate(
            {"items": [{"name": "x", "quantity": 3, "price": "0.10"}], "total_price": 0.31}
        )


def test_a_total_above_numeric_12_2_is_refused() -> None:
    item = {"name": "x", "quantity": 10_000, "price": "1000000"}
    with pytest.raises(ValidationError, match="above the maximum"):
        OrderCreate.model_validate({"items": [item]})


def order_read(**overrides: Any) -> OrderRead:
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "user_id": 7,
        "items": [{"product_id": "p", "quantity": 2, "price": "10.50"}],
        "total_price": Decimal("21.00"),
        "status": OrderStatus.PENDING,
        "created_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "updated_at": datetime(2026, 1, 2, 3, 4, 5, 600, tzinfo=UTC),
        **overrides,
    }
    return OrderRead.model_validate(values)


def test_order_json_numbers_and_fixed_width_utc_times() -> None:
    data = order_read().model_dump(mode="json")
    assert data["total_price"] == 21.0
    assert data["items"][0]["price"] == 10.5
    assert data["created_at"] == "2026-01-02T03:04:05.000000Z"
    assert data["updated_at"] == "2026-01-02T03:04:05.000600Z"
    assert data["status"] == "PENDING"


def test_times_in_another_zone_are_written_in_utc() -> None:
    cet = timezone(timedelta(hours=1))
    data = order_read(created_at=datetime(2026, 1, 2, 4, 4, 5, tzinfo=cet)).model_dump(mode="json")
    assert data["created_at"] == "2026-01-02T03:04:05.000000Z"


def test_the_json_reads_back_to_the_same_order() -> None:
    order = order_read()
    assert OrderRead.model_validate_json(order.model_dump_json()) == order


def test_the_time_strings_sort_like_the_times() -> None:
    base = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    times = [base + timedelta(microseconds=n) for n in (0, 1, 999_999, 1_000_000, 10**9)]
    strings = [order_read(updated_at=t).model_dump(mode="json")["updated_at"] for t in times]
    assert strings == sorted(strings)
