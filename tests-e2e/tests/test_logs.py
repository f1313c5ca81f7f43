"""No secret reaches a log line: after the whole run, every process's log is searched for the
test users' passwords, their tokens (and signatures alone) and their bcrypt hashes."""

from __future__ import annotations

import psycopg
import pytest

from stack_control import log_text
from stack_control.processes import NAMES
from tests.clients import Stack, User


@pytest.mark.last
def test_no_password_token_or_hash_in_any_log_line(stack: Stack, alice: User, bob: User) -> None:
    with psycopg.connect(stack.database("AUTH"), connect_timeout=3) as conn:
        hashes = [
            str(row[0])
            for row in conn.execute(
                "SELECT password_hash FROM users WHERE email = ANY(%s)", ([alice.email, bob.email],)
            )
        ]
    assert len(hashes) == 2
    secrets = {
        "password": [alice.password, bob.password],
        "token": [alice.token, bob.token],
        "token signature": [alice.token.rsplit(".", 1)[1], bob.token.rsplit(".", 1)[1]],
        "password hash": hashes,
    }
    logs = {name: log_text(name) for name in NAMES}
    assert sum(len(text) for text in logs.values()) > 10_000  # the run did log
    found = [
        f"{kind} in the {name} log"
        for name, text in logs.items()
        for kind, values in secrets.items()
        if any(value in text for value in values)
    ]
    assert found == []
