"""The access token's subject, shared by the service that signs tokens and those that verify them.

`sub` is the user's id written in ASCII digits (RFC 7519 makes it a string). Anything else, zero,
or an id past PostgreSQL's bigint is refused with the one `InvalidToken` answer (401).
"""

from __future__ import annotations

from typing import Final

from service_kit.errors import Unauthorized

MAX_USER_ID: Final = 2**63 - 1


class InvalidToken(Unauthorized):
    detail = "invalid or expired token"


def subject_for(user_id: int) -> str:
    """The `sub` claim for `user_id`."""
    if not 0 < user_id <= MAX_USER_ID:
        raise ValueError(f"not a user id: {user_id}")
    return str(user_id)


def user_id_from_subject(subject: object) -> int:
    """The user id a `sub` claim names; InvalidToken when it names none."""
    if not (isinstance(subject, str) and subject.isascii() and subject.isdigit()):
        raise InvalidToken("subject is not a user id")
    user_id = int(subject)
    if not 0 < user_id <= MAX_USER_ID:
        raise InvalidToken("subject is not a user id")
    return user_id
