"""The one rule for an access token's `sub` claim: a user id in ASCII digits."""

from __future__ import annotations

import pytest

from service_kit.tokens import MAX_USER_ID, InvalidToken, subject_for, user_id_from_subject


@pytest.mark.parametrize(
    ("subject", "user_id"), [("1", 1), ("42", 42), (str(MAX_USER_ID), MAX_USER_ID)]
)
def test_a_subject_of_digits_names_a_user(subject: str, user_id: int) -> None:
    assert user_id_from_subject(subject) == user_id


@pytest.mark.parametrize(
    "subject",
    [
        "0",
        str(MAX_USER_ID + 1),
        "-1",
        "+1",
        " 1",
        "1.0",
        "",
        "alice@example.com",
        "١٢",  # Arabic-Indic digits: isdigit(), but not ASCII
        "²",
        1,
        None,
        ["1"],
    ],
)
def test_anything_else_is_an_invalid_token(subject: object) -> None:
    with pytest.raises(InvalidToken) as refused:
        user_id_from_subject(subject)
    assert refused.value.status_code == 401
    assert refused.value.headers == {"WWW-Authenticate": "Bearer"}


def test_invalid_token_answers_with_one_detail() -> None:
    assert InvalidToken().detail == "invalid or expired token"


@pytest.mark.parametrize("user_id", [1, 42, MAX_USER_ID])
def test_subject_for_round_trips(user_id: int) -> None:
    assert user_id_from_subject(subject_for(user_id)) == user_id


@pytest.mark.parametrize("user_id", [0, -1, MAX_USER_ID + 1])
def test_subject_for_refuses_what_is_no_user_id(user_id: int) -> None:
    with pytest.raises(ValueError, match="not a user id"):
        subject_for(user_id)
