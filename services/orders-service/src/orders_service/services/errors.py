"""Domain errors of orders-service; service_kit's handler maps each to its HTTP status."""

from __future__ import annotations

from service_kit.errors import Conflict, Forbidden, NotFound, Unprocessable


class OrderNotFound(NotFound):
    detail = "order not found"


class OrderForbidden(Forbidden):
    detail = "this order belongs to another user"


class OrdersListForbidden(Forbidden):
    detail = "these orders belong to another user"


class TransitionNotAllowed(Conflict):
    detail = "status transition not allowed"


class IdempotencyKeyInFlight(Conflict):
    detail = (
        "a request with this Idempotency-Key is still in progress; retry once it has been answered"
    )


class IdempotencyKeyReused(Unprocessable):
    detail = "this Idempotency-Key was already used with another request"
