"""The processes of the stack, one name each: the native supervisor's programs
(`infra/native/stack/programs.py`, which checks its table against these) and the compose
services of the same names. The servers first, then the services, each in start order; they stop
in the reverse order.
"""

from __future__ import annotations

SERVERS: tuple[str, ...] = ("postgres", "redis", "kafka")
SERVICES: tuple[str, ...] = (
    "auth",
    "orders",
    "relay",
    "processor",
    "consumer",
    "worker",
    "gateway",
)
NAMES: tuple[str, ...] = SERVERS + SERVICES
