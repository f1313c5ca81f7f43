"""Hung, not dead: Redis and PostgreSQL frozen (alive, holding their sockets, answering nothing).

A stopped server refuses connections at once; a frozen one accepts them and never replies, so
only timeouts bound the wait. The API must answer within its budget (BUDGET_S, far below the
gateway's 30 s and any client's patience) and the pipeline must resume on its own once the
server runs again.
"""

from __future__ import annotations

import time

import httpx
import pytest

from stack_control.freeze import frozen
from stack_control.waiting import eventually
from tests.clients import ITEMS, Sql, Stack, User, processed_count

pytestmark = pytest.mark.timeout(300)

# What a caller waits at most for any answer while a dependency hangs.
BUDGET_S = 6.0


def _timed(send: httpx.Client, method: str, url: str, **kwargs: object) -> tuple[int, float]:
    started = time.monotonic()
    response = send.request(method, url, timeout=30, **kwargs)  # type: ignore[arg-type]
    return response.status_code, time.monotonic() - started


def _create(http: httpx.Client, stack: Stack, user: User) -> str:
    response = http.post(f"{stack.url('ORDERS')}/orders/", json={"items": ITEMS}, headers=user.auth)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_a_frozen_redis_costs_the_api_a_bounded_wait_and_the_pipeline_resumes(
    stack: Stack, http: httpx.Client, alice: User, processor_db: Sql
) -> None:
    orders = stack.url("ORDERS")
    cached = _create(http, stack, alice)
    assert http.get(f"{orders}/orders/{cached}/", headers=alice.auth).status_code == 200
    with frozen("redis"):
        answers = [
            _timed(http, "GET", f"{orders}/orders/{cached}/", headers=alice.auth) for _ in range(5)
        ]
        created = http.post(
            f"{orders}/orders/", json={"items": ITEMS}, headers=alice.auth, timeout=30
        )
        ready = _timed(http, "GET", f"{orders}/health/ready")
    assert [status for status, _ in answers] == [200] * 5, answers
    assert max(seconds for _, seconds in answers) < BUDGET_S, answers
    assert created.status_code == 201, created.text
    assert created.elapsed.total_seconds() < BUDGET_S
    assert ready[0] == 200 and ready[1] < BUDGET_S, ready  # Redis degraded, orders still ready
    during = str(created.json()["id"])
    eventually(
        lambda: processed_count(processor_db, [cached, during]) == 2,
        120,
        "both orders processed once Redis answers again",
    )


def test_a_frozen_postgres_is_a_prompt_503_and_the_api_recovers(
    stack: Stack, http: httpx.Client, alice: User, processor_db: Sql
) -> None:
    orders = stack.url("ORDERS")
    _create(http, stack, alice)  # the pool holds live connections when the server freezes
    with frozen("postgres"):
        posted = _timed(
            http, "POST", f"{orders}/orders/", json={"items": ITEMS}, headers=alice.auth
        )
        listed = _timed(http, "GET", f"{orders}/orders/user/{alice.id}/", headers=alice.auth)
        ready = _timed(http, "GET", f"{orders}/health/ready")
    for name, (status, seconds) in {"POST": posted, "list": listed, "ready": ready}.items():
        assert status == 503, (name, status)
        assert seconds < BUDGET_S, (name, seconds)

    def accepted() -> str | None:
        response = http.post(
            f"{orders}/orders/", json={"items": ITEMS}, headers=alice.auth, timeout=30
        )
        return str(response.json()["id"]) if response.status_code == 201 else None

    order_id = eventually(accepted, 60, "orders accepted again")
    eventually(
        lambda: processed_count(processor_db, [order_id]) == 1, 120, "processed after the thaw"
    )
