"""What makes two requests with one Idempotency-Key the same request, and whose key locks what."""

from __future__ import annotations

from typing import Any

import pytest

from orders_service.db.idempotency_repository import lock_id
from orders_service.schemas import OrderCreate
from orders_service.services.idempotency import fingerprint


def order(*items: dict[str, Any], **fields: Any) -> OrderCreate:
    return OrderCreate.model_validate({"items": list(items), **fields})


class TestFingerprint:
    """The fingerprint is of the validated body: spelling does not count, content does."""

    @pytest.mark.parametrize(
        ("written", "spelled_otherwise"),
        [
            (
                {"name": "Tea", "quantity": 1, "price": "2.50"},
                {"name": "Tea", "quantity": 1, "price": 2.5},
            ),
            (
                {"name": "Tea", "quantity": 1, "price": "2.5"},
                {"price": "2.500", "quantity": 1, "name": "Tea"},
            ),
            (
                {"name": "Tea", "quantity": 1, "price": 1},
                {"name": "Tea", "product_id": None, "quantity": 1, "price": 1},
            ),
        ],
    )
    def test_bodies_that_validate_alike_share_it(
        self, written: dict[str, Any], spelled_otherwise: dict[str, Any]
    ) -> None:
        assert fingerprint(order(written)) == fingerprint(order(spelled_otherwise))

    @pytest.mark.parametrize(
        "other",
        [
            order({"name": "Tea", "quantity": 2, "price": "2.50"}),
            order({"name": "Coffee", "quantity": 1, "price": "2.50"}),
            order({"name": "Tea", "quantity": 1, "price": "2.51"}),
            order({"name": "Tea", "quantity": 1, "price": "2.50"}, total_price="2.50"),
            order(
                {"name": "Tea", "quantity": 1, "price": "2.50"},
                {"name": "Tea", "quantity": 1, "price": "2.50"},
            ),
        ],
    )
    def test_any_other_content_changes_it(self, other: OrderCreate) -> None:
        assert fingerprint(order({"name": "Tea", "quantity": 1, "price": "2.50"})) != fingerprint(
            other
        )


class TestLockId:
    """One advisory lock per user and key, within PostgreSQL's bigint."""

    def test_each_user_and_key_has_its_own_lock(self) -> None:
        assert lock_id(1, "k") == lock_id(1, "k")
        assert (
            len(
                {
                    lock_id(1, "k"),
                    lock_id(2, "k"),
                    lock_id(1, "k2"),
                    lock_id(12, ""),
                    lock_id(1, "2"),
                }
            )
            == 5
        )

    @pytest.mark.parametrize("key", ["", "k", "x" * 255])
    def test_it_fits_a_bigint(self, key: str) -> None:
        assert -(2**63) <= lock_id(2**53, key) < 2**63
