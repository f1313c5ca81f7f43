"""The order status machine (API.md)."""

from __future__ import annotations

import itertools

import pytest

from orders_service.db.models import OrderStatus as S
from orders_service.services.orders import transition_allowed

ALLOWED = {(S.PENDING, S.PAID), (S.PENDING, S.CANCELED), (S.PAID, S.SHIPPED), (S.PAID, S.CANCELED)}


@pytest.mark.parametrize(
    ("current", "new"),
    [(a, b) for a, b in itertools.product(S, S) if a != b],
    ids=lambda s: str(s),
)
def test_only_the_listed_transitions_are_allowed(current: S, new: S) -> None:
    assert transition_allowed(current, new) == ((current, new) in ALLOWED)


@pytest.mark.parametrize("final", [S.SHIPPED, S.CANCELED])
def test_shipped_and_canceled_are_final(final: S) -> None:
    assert not any(transition_allowed(final, other) for other in S)
