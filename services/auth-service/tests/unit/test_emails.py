"""One normal form of an email address, for registration and login."""

from __future__ import annotations

import pytest

from auth_service.schemas import UserCreate, normalize_email


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("Alice@Example.COM", "alice@example.com"),
        ("USER@xn--bcher-kva.de", "user@bücher.de"),
        ("Ärger@Bücher.DE", "ärger@bücher.de"),
        ("  padded@example.com ", "padded@example.com"),
    ],
)
def test_normal_form(raw: str, normal: str) -> None:
    assert normalize_email(raw) == normal
    # registration stores exactly what login looks up
    assert UserCreate(email=raw, password="long enough").email == normal


@pytest.mark.parametrize("raw", ["", "no-at-sign", "two@@example.com", "a@"])
def test_what_is_no_address_has_no_normal_form(raw: str) -> None:
    assert normalize_email(raw) is None
