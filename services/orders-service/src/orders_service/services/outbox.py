"""Turn a change into outbox rows; the relay publishes them (see outbox_relay.py)."""

from __future__ import annotations

import uuid
from typing import Any

from contracts import NEW_ORDER_TOPIC, event_json_headers, new_order_event_json
from orders_service.db.outbox_repository import NewOutboxRow


def new_order_message(order: dict[str, Any], correlation_id: str | None) -> NewOutboxRow:
    """The `new_order` event for an order, given its API JSON (the one Order -> JSON mapping)."""
    event_id = uuid.uuid4()
    event = new_order_event_json(order, correlation_id, event_id)
    return NewOutboxRow(
        event_id=event_id,
        topic=NEW_ORDER_TOPIC,
        key=order["id"],
        payload=event,
        headers=event_json_headers(event),
    )
