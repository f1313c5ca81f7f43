"""Domain errors of orders-service; service_kit's handler maps each to its HTTP status."""

from __future__ import annotations

from service_kit.errors import Conflict, Forbidden, NotFound, Unauthorized


class InvalidToken(Unauthorized):
    detail = "invalid or expired token"


class OrderNotFound(NotFound):
    detail = "order not found"


class OrderForbidden(Forbidden):
    detail = "this order belongs to another user"


class OrdersListForbidden(Forbidden):
    detail = "these orders belong to another user"


class TransitionNotAllowed(Conflict):
    detail = "status transition not allowed"
