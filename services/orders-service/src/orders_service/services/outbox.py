"""Turn a change into outbox rows; the relay publishes them (see outbox_relay.py)."""

from __future__ import annotations

from typing import Any

from contracts import NEW_ORDER_TOPIC, NewOrderV1, build_new_order_event, event_headers
from orders_service.db.models import OutboxMessage


def new_order_message(order: dict[str, Any], correlation_id: str | None) -> OutboxMessage:
    """The `new_order` event for an order, given its API JSON (the one Order -> JSON mapping)."""
    data = NewOrderV1.model_validate({**order, "order_id": order["id"]})
    event = build_new_order_event(data, correlation_id)
    return OutboxMessage(
        event_id=event.event_id,
        topic=NEW_ORDER_TOPIC,
        key=str(data.order_id),
        payload=event.model_dump(mode="json"),
        headers={name: value.decode() for name, value in event_headers(event)},
    )
