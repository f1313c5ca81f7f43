"""OrderCreate / OrderUpdate / OrderRead: the only Order -> JSON mapping.

The API responses, the cached value (`orders:order:{id}`) and the `new_order` event payload are
all `OrderRead` dumped to JSON.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    Strict,
    WithJsonSchema,
    model_validator,
)

from contracts.events import Money
from orders_service.db.models import OrderStatus

MAX_ITEMS = 100
MAX_QUANTITY = 10_000
MAX_ITEM_PRICE = Decimal("1000000")
# orders.total_price is NUMERIC(12, 2): the largest total an order can hold.
MAX_TOTAL = Decimal("9999999999.99")
CENT = Decimal("0.01")


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _iso_utc(value: datetime) -> str:
    # Fixed width (always microseconds, always "Z"): strings sort like the instants they name,
    # which the cache relies on to compare versions (see services/cache.py).
    return _as_utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


UtcDatetime = Annotated[
    datetime,
    AfterValidator(_as_utc),
    PlainSerializer(_iso_utc, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}, mode="serialization"),
]

_DECIMAL_STRING = re.compile(r"[0-9]+(\.[0-9]+)?")

# The published JSON Schema states the rules the validators below enforce, so that a client (or
# a fuzzer) that builds requests from it builds only what is accepted (tests/unit/
# test_published_schema.py holds the two to each other). A decimal string's pattern says what the
# value rules say: at most two decimals that count (trailing zeros do not), and the range.
PRICE_STRING = (
    r"^(0*[1-9][0-9]{0,5}(\.[0-9]{1,2}0*)?"  # 1 to 999 999.99
    r"|0*1000000(\.0+)?"  # 1 000 000
    r"|0+\.([1-9][0-9]?|0[1-9])0*)$"  # 0.01 to 0.99
)
TOTAL_STRING = r"^0*[0-9]{1,10}(\.[0-9]{1,2}0*)?$"  # 0 to 9 999 999 999.99
PRICE_NUMBER = {
    "type": "number",
    "exclusiveMinimum": 0,
    "maximum": int(MAX_ITEM_PRICE),
    "multipleOf": float(CENT),
}
TOTAL_NUMBER = {
    "type": "number",
    "minimum": 0,
    "maximum": float(MAX_TOTAL),
    "multipleOf": float(CENT),
}
# Text: no control characters, and at least one character that is neither a control character
# nor white space (what str.strip() removes). Lone surrogates, refused too, have no portable
# regex: JSON Schema's dialect matches UTF-16 code units, others refuse them in a pattern.
_CONTROL = r"\x00-\x1f\x7f-\x9f"
_SPACE = r"\x20\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
TEXT_PATTERN = f"^[^{_CONTROL}]*[^{_CONTROL}{_SPACE}][^{_CONTROL}]*$"


def _plain_decimal_string(value: object) -> object:
    """Strings must be plain ASCII decimals ("19.99"): no signs, exponents, spaces, "_" or
    other scripts' digits, which Python's Decimal would otherwise accept."""
    if isinstance(value, str) and not _DECIMAL_STRING.fullmatch(value):
        raise ValueError("must be a number or a decimal string such as 19.99")
    return value


def _text(value: str) -> str:
    """Printable text: no control characters (PostgreSQL's JSONB refuses NUL), no lone
    surrogates (not UTF-8), not blank."""
    if any(unicodedata.category(ch) in {"Cc", "Cs"} for ch in value):
        raise ValueError("must not contain control characters or lone surrogates")
    if not value.strip():
        raise ValueError("must not be blank")
    return value


# The pattern is published only; `_text` is what checks it (with its own messages).
Text = Annotated[str, AfterValidator(_text), Field(json_schema_extra={"pattern": TEXT_PATTERN})]

# A price comes as a JSON number or a decimal string ("19.99"); booleans are refused. At most
# two decimals count the value, not the text: trailing zeros are no decimals ("1.500" is 1.50).
Price = Annotated[
    Decimal,
    BeforeValidator(_plain_decimal_string),
    Field(
        gt=0,
        le=MAX_ITEM_PRICE,
        decimal_places=2,
        allow_inf_nan=False,
        description='> 0, ≤ 1 000 000, at most 2 decimals; trailing zeros do not count ("1.500")',
    ),
    PlainSerializer(float, return_type=float, when_used="json"),
    WithJsonSchema(
        {"anyOf": [PRICE_NUMBER, {"type": "string", "pattern": PRICE_STRING}]}, mode="validation"
    ),
    WithJsonSchema(PRICE_NUMBER, mode="serialization"),
]
TotalPrice = Annotated[
    Decimal,
    BeforeValidator(_plain_decimal_string),
    Field(ge=0, decimal_places=2, allow_inf_nan=False),
    PlainSerializer(float, return_type=float, when_used="json"),
    WithJsonSchema(
        {"anyOf": [TOTAL_NUMBER, {"type": "string", "pattern": TOTAL_STRING}]}, mode="validation"
    ),
]


class Item(BaseModel):
    """One line of an order; at least one of `product_id` and `name`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [
                {"required": [field], "properties": {field: {"type": "string"}}}
                for field in ("product_id", "name")
            ]
        },
    )

    product_id: Text | None = Field(default=None, min_length=1, max_length=64)
    name: Text | None = Field(default=None, min_length=1, max_length=200)
    quantity: Annotated[int, Strict(), Field(ge=1, le=MAX_QUANTITY)]
    price: Price

    @model_validator(mode="after")
    def _named(self) -> Self:
        if self.product_id is None and self.name is None:
            raise ValueError("an item needs a product_id or a name")
        return self


def order_total(items: list[Item]) -> Decimal:
    """The sum of quantity x price, exact (Decimal), in cents."""
    return sum((item.price * item.quantity for item in items), Decimal(0)).quantize(CENT)


class OrderCreate(BaseModel):
    """A new order. `total_price` is optional; if sent it must equal the computed sum.

    The total is stored as NUMERIC(12, 2): an order whose total is above 9 999 999 999.99 is
    refused with 422.
    """

    model_config = ConfigDict(extra="forbid")

    items: list[Item] = Field(min_length=1, max_length=MAX_ITEMS)
    total_price: TotalPrice | None = None

    @model_validator(mode="after")
    def _total_fits_and_matches(self) -> Self:
        total = order_total(self.items)
        if total > MAX_TOTAL:
            raise ValueError(f"the order total {total} is above the maximum {MAX_TOTAL}")
        if self.total_price is not None and self.total_price != total:
            raise ValueError(
                f"total_price {self.total_price} does not match the items' sum {total}"
            )
        return self

    @property
    def total(self) -> Decimal:
        return order_total(self.items)


class OrderUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: OrderStatus


class OrderRead(BaseModel):
    """An order as the API, the cache and the `new_order` event show it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    user_id: int
    items: list[Item]
    total_price: Money
    status: OrderStatus
    created_at: UtcDatetime
    updated_at: UtcDatetime
