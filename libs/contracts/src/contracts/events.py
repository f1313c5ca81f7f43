"""The `new_order` event, version 1 (see API.md).

Readers ignore unknown fields so that additive changes keep `event_version` 1; a breaking
change gets a new payload class and a new version number.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, PlainSerializer

NEW_ORDER_TOPIC = "new_order"
NEW_ORDER_DLQ_TOPIC = "new_order.dlq"
DLQ_REASON_HEADER = "dlq_reason"
PRODUCER = "orders-service"

PayloadT = TypeVar("PayloadT", bound=BaseModel)

# Money travels as a JSON number with at most 2 decimals; in Python it stays a Decimal.
Money = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]


class _Reader(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class NewOrderItem(_Reader):
    product_id: str | None = None
    name: str | None = None
    quantity: int
    price: Money


class NewOrderV1(_Reader):
    order_id: uuid.UUID
    user_id: int
    items: list[NewOrderItem]
    total_price: Money
    status: str
    created_at: datetime


class EventEnvelope(_Reader, Generic[PayloadT]):
    event_id: uuid.UUID
    event_type: str
    event_version: int
    occurred_at: datetime
    producer: str
    correlation_id: str | None = None
    data: PayloadT


class NewOrderEvent(EventEnvelope[NewOrderV1]):
    # Required, without defaults: a message that does not say what it is, or says another
    # version, is not read as a v1 new_order (it goes to the dead-letter topic).
    event_type: Literal["new_order"]
    event_version: Literal[1]


def build_new_order_event(
    data: NewOrderV1, correlation_id: str | None, event_id: uuid.UUID | None = None
) -> NewOrderEvent:
    return NewOrderEvent(
        event_id=event_id or uuid.uuid4(),
        event_type="new_order",
        event_version=1,
        occurred_at=datetime.now(UTC),
        producer=PRODUCER,
        correlation_id=correlation_id,
        data=data,
    )


# The fields of a `NewOrderItem`, in the order the model dumps them.
_ITEM_FIELDS = ("product_id", "name", "quantity", "price")


def new_order_event_json(
    order: Mapping[str, Any], correlation_id: str | None, event_id: uuid.UUID | None = None
) -> dict[str, Any]:
    """The `new_order` event of an order given as the API's Order JSON (ids and instants as
    strings, money as numbers: already in the contract's types), as JSON: what
    `build_new_order_event(...).model_dump(mode="json")` gives for it, without a model round
    trip on the hot path of POST /orders/ (tests/test_new_order.py holds the two together)."""
    data = {
        "order_id": order["id"],
        "user_id": order["user_id"],
        "items": [{name: item[name] for name in _ITEM_FIELDS} for item in order["items"]],
        "total_price": order["total_price"],
        "status": order["status"],
        "created_at": order["created_at"],
    }
    return {
        "event_id": str(event_id or uuid.uuid4()),
        "event_type": "new_order",
        "event_version": 1,
        "occurred_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "producer": PRODUCER,
        "correlation_id": correlation_id,
        "data": data,
    }


def parse_new_order(raw: bytes | str | dict[str, Any]) -> NewOrderEvent:
    """Validate a message; raises `pydantic.ValidationError` when it is not a v1 `new_order`."""
    if isinstance(raw, dict):
        return NewOrderEvent.model_validate(raw)
    return NewOrderEvent.model_validate_json(raw)


def event_headers(event: EventEnvelope[Any]) -> list[tuple[str, bytes]]:
    """Kafka headers per API.md: event_id, event_type, correlation_id."""
    as_json = event.model_dump(mode="json", include={"event_id", "event_type", "correlation_id"})
    return [(name, value.encode()) for name, value in event_json_headers(as_json).items()]


def event_json_headers(event: Mapping[str, Any]) -> dict[str, str]:
    """`event_headers` of an event given as JSON, as text (an outbox row keeps them so)."""
    return {
        "event_id": event["event_id"],
        "event_type": event["event_type"],
        "correlation_id": event["correlation_id"] or "",
    }
