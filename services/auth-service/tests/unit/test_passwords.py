"""The password rules and the bcrypt hasher (no I/O besides CPU)."""

import statistics
import time

import pytest
from pydantic import ValidationError

from auth_service.schemas import UserCreate, password_length_problem
from auth_service.services.security import PasswordHasher, fits_bcrypt


@pytest.mark.parametrize(
    ("password", "ok"),
    [
        ("", False),
        ("seven77", False),  # 7 bytes
        ("12345678", True),  # 8 bytes
        ("ééé", False),  # 3 characters, 6 bytes
        ("éééé", True),  # 4 characters, 8 bytes
        ("密码密", True),  # 3 characters, 9 bytes
        ("a" * 72, True),
        ("a" * 73, False),
        ("é" * 36, True),  # 72 bytes
        ("é" * 36 + "a", False),  # 37 characters, 73 bytes
        ("🔑" * 18, True),  # 72 bytes
        ("🔑" * 18 + "a", False),
    ],
)
def test_password_length_is_counted_in_utf8_bytes(password: str, ok: bool) -> None:
    assert (password_length_problem(password) is None) is ok
    assert fits_bcrypt(password) is (len(password.encode()) <= 72)


def test_user_create_lower_cases_the_email_and_checks_the_password() -> None:
    user = UserCreate(email="Alice@Example.COM", password="long enough")

    assert user.email == "alice@example.com"
    with pytest.raises(ValidationError, match="at least 8 bytes"):
        UserCreate(email="alice@example.com", password="short")
    with pytest.raises(ValidationError, match="at most 72 bytes"):
        UserCreate(email="alice@example.com", password="x" * 73)
    with pytest.raises(ValidationError):
        UserCreate(email="not an email", password="long enough")


@pytest.fixture(scope="module")
def hasher() -> PasswordHasher:
    return PasswordHasher(rounds=4)


async def test_hash_and_verify(hasher: PasswordHasher) -> None:
    hashed = await hasher.hash("pässwörd-密码")

    assert hashed.startswith("$2b$04$")
    assert await hasher.verify("pässwörd-密码", hashed)
    assert not await hasher.verify("passwörd-密码", hashed)


async def test_each_hash_has_its_own_salt(hasher: PasswordHasher) -> None:
    assert await hasher.hash("same password") != await hasher.hash("same password")


async def test_verify_never_raises(hasher: PasswordHasher) -> None:
    hashed = await hasher.hash("a" * 72)

    assert not await hasher.verify("a" * 73, hashed)  # bcrypt 5 raises on it; we say no
    assert not await hasher.verify("a" * 200, None)
    assert not await hasher.verify("anything", "not a bcrypt hash")
    assert not await hasher.verify("anything", "$2b$04$ñot-ascii")


async def test_unknown_user_is_checked_against_a_dummy_hash_of_the_same_cost() -> None:
    hasher = PasswordHasher(rounds=5)

    assert hasher._dummy_hash.startswith("$2b$05$")
    assert not await hasher.verify("whatever password", None)


async def test_hashing_of_a_too_long_password_is_refused(hasher: PasswordHasher) -> None:
    with pytest.raises(ValueError, match="72 bytes"):
        await hasher.hash("x" * 73)


async def test_unknown_user_costs_about_as_much_as_a_wrong_password() -> None:
    hasher = PasswordHasher(rounds=10)  # ~60 ms a check: well above the noise
    real = await hasher.hash("the real password")

    async def timed(password_hash: str | None) -> float:
        started = time.perf_counter()
        await hasher.verify("a wrong password", password_hash)
        return time.perf_counter() - started

    wrong = statistics.median([await timed(real) for _ in range(3)])
    unknown = statistics.median([await timed(None) for _ in range(3)])

    assert 0.5 < unknown / wrong < 2.0
