"""The published JSON Schema of an order states what the validators enforce: what it allows is
accepted, and what the validators refuse it refuses too, wherever JSON Schema can say so."""

from __future__ import annotations

import itertools
import re
import sys
import unicodedata
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from orders_service.schemas import (
    MAX_TOTAL,
    PRICE_STRING,
    TEXT_PATTERN,
    TOTAL_STRING,
    Item,
    OrderCreate,
)

PRICE_BOUNDARIES = [
    "0.01",
    "0.00",
    "0.001",
    "0.010",
    "00.5",
    ".5",
    "5.",
    "999999.99",
    "999999.999",
    "999999.990",
    "1000000",
    "1000000.0",
    "1000000.00000",
    "1000000.01",
    "1000001",
    "01000000",
    "0001000000.00",
    "10000000",
    "1e3",
    "1_0",
]


def price_accepted(price: Any) -> bool:
    try:
        Item(name="x", quantity=1, price=price)
    except ValidationError:
        return False
    return True


def total_accepted(total: str) -> bool:
    """Whether `total_price` passes its own rules (the sum is checked against the items after)."""
    try:
        OrderCreate.model_validate(
            {"items": [{"name": "x", "quantity": 1, "price": 1}], "total_price": total}
        )
    except ValidationError as exc:
        return all(error["loc"] == () for error in exc.errors())  # only the sum disagreed
    return True


def text_accepted(text: str) -> bool:
    try:
        Item(name=text, quantity=1, price=1)
    except ValidationError:
        return False
    return True


def strings_over(alphabet: str, longest: int) -> list[str]:
    return [
        "".join(chars)
        for length in range(1, longest + 1)
        for chars in itertools.product(alphabet, repeat=length)
    ]


class TestPriceStrings:
    """A decimal string price matches the pattern exactly when the validators accept it."""

    def test_the_pattern_matches_exactly_the_accepted_strings(self) -> None:
        disagreements = [
            price
            for price in PRICE_BOUNDARIES + strings_over("019.", 7)
            if bool(re.fullmatch(PRICE_STRING, price)) != price_accepted(price)
        ]
        assert disagreements == []


class TestTotalStrings:
    """A decimal string total matches its pattern exactly when it passes its own rules and
    can equal the sum of an order that can be stored (at most 9 999 999 999.99)."""

    def test_the_pattern_matches_exactly_the_totals_an_order_can_have(self) -> None:
        totals = ["0", "0.00", "9999999999.99", "9999999999.990", "10000000000", "0.001"]
        disagreements = [
            total
            for total in totals + strings_over("09.", 6)
            if bool(re.fullmatch(TOTAL_STRING, total))
            != (total_accepted(total) and Decimal(total) <= MAX_TOTAL)
        ]
        assert disagreements == []


class TestPriceNumbers:
    """A number price: > 0, <= 1 000 000, a multiple of 0.01 (of the number as written)."""

    @pytest.mark.parametrize(
        "price",
        [
            0.01,
            0.07,
            0.35,
            19.99,
            62.47,
            999999.99,
            1000000,
            1000000.0,
            5,
            0,
            -0.01,
            0.001,
            0.125,
            1000000.01,
            1e-7,
            1e6 + 1,
        ],
    )
    def test_a_number_is_accepted_exactly_when_the_keywords_allow_it(self, price: float) -> None:
        value = Decimal(repr(price))
        allowed = 0 < value <= 1_000_000 and value % Decimal("0.01") == 0
        assert price_accepted(price) == allowed


# Every control character, every kind of white space, and a few characters that are neither.
_INTERESTING = sorted(
    {
        chr(c)
        for c in range(sys.maxunicode + 1)
        if unicodedata.category(chr(c)) == "Cc" or chr(c).isspace()
    }
    | set("a1-é\u00ad\u200b\ufeff\u3042😀")
)


class TestText:
    """product_id and name: the pattern matches exactly what `_text` lets through."""

    def test_the_pattern_matches_exactly_the_accepted_text(self) -> None:
        texts = [
            "".join(chars) for n in (1, 2) for chars in itertools.product(_INTERESTING, repeat=n)
        ]
        disagreements = [
            text for text in texts if bool(re.fullmatch(TEXT_PATTERN, text)) != text_accepted(text)
        ]
        assert disagreements == []


class TestItemSchema:
    """The other Item rules, as JSON Schema keywords."""

    def test_an_item_needs_a_product_id_or_a_name_and_nothing_else(self) -> None:
        schema = Item.model_json_schema(mode="validation")
        assert schema["additionalProperties"] is False
        assert schema["anyOf"] == [
            {"required": ["product_id"], "properties": {"product_id": {"type": "string"}}},
            {"required": ["name"], "properties": {"name": {"type": "string"}}},
        ]
        quantity = schema["properties"]["quantity"]
        assert (quantity["type"], quantity["minimum"], quantity["maximum"]) == (
            "integer",
            1,
            10_000,
        )

    def test_a_price_is_a_number_or_a_decimal_string(self) -> None:
        price = Item.model_json_schema(mode="validation")["properties"]["price"]
        number, string = price["anyOf"]
        assert number == {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 1_000_000,
            "multipleOf": 0.01,
        }
        assert string == {"type": "string", "pattern": PRICE_STRING}

    def test_an_order_has_1_to_100_items_and_nothing_else(self) -> None:
        schema = OrderCreate.model_json_schema(mode="validation")
        assert schema["additionalProperties"] is False
        items = schema["properties"]["items"]
        assert (items["minItems"], items["maxItems"]) == (1, 100)
