"""Event contracts: the only code the producer and the consumers share."""

from contracts.events import (
    DLQ_REASON_HEADER,
    NEW_ORDER_DLQ_TOPIC,
    NEW_ORDER_TOPIC,
    EventEnvelope,
    NewOrderEvent,
    NewOrderItem,
    NewOrderV1,
    build_new_order_event,
    event_headers,
    event_json_headers,
    new_order_event_json,
    parse_new_order,
)

__all__ = [
    "DLQ_REASON_HEADER",
    "NEW_ORDER_DLQ_TOPIC",
    "NEW_ORDER_TOPIC",
    "EventEnvelope",
    "NewOrderEvent",
    "NewOrderItem",
    "NewOrderV1",
    "build_new_order_event",
    "event_headers",
    "event_json_headers",
    "new_order_event_json",
    "parse_new_order",
]
