"""The auto-pipeline's own encoder writes what redis-py's writes (pure logic: byte equality with
the reference packer); the commands themselves are run against real Redis in test_ratelimit.py
and in orders-service's cache and rate-limit tests."""

from __future__ import annotations

import pytest
from redis.asyncio.connection import Connection

from service_kit.redis import Command, pack

COMMANDS: list[Command] = [
    ("GET", "order:5d0c6f1e-6a8f-4d0e-9a57-0b5b2a4c3e21"),
    ("EVALSHA", "a" * 40, 1, "rl:orders:user:7:60", 60, 1),
    ("SET", b"raw\x00bytes", "é-unicode", "EX", 300),
    ("INCRBYFLOAT", "k", 0.5),
    ("PTTL", ""),
    ("ECHO", b""),
    ("INCRBY", "k", -3),
]


def test_pack_writes_the_bytes_redis_py_writes() -> None:
    reference = b"".join(Connection().pack_commands(COMMANDS))
    assert pack(COMMANDS) == reference


@pytest.mark.parametrize("bad", [True, None, object(), ["list"]])
def test_pack_refuses_what_redis_py_refuses(bad: object) -> None:
    with pytest.raises(TypeError):
        pack([("SET", "k", bad)])
