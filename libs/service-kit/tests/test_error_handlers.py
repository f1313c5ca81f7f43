"""What raised exceptions become: JSON with a `detail`, the right status, never the input."""

from __future__ import annotations

import httpx


async def test_domain_errors_keep_their_status_and_detail(client: httpx.AsyncClient) -> None:
    response = await client.get("/missing")
    assert (response.status_code, response.json()) == (404, {"detail": "no such thing"})
    assert response.headers["x-request-id"]


async def test_validation_errors_keep_fastapis_list_but_never_echo_the_input(
    client: httpx.AsyncClient,
) -> None:
    raw = '{"password": "hunter2-secret", "amount": NaN, "extra": "\\ud800"}'
    response = await client.post("/echo", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert isinstance(errors, list) and errors
    assert all({"type", "loc", "msg"} <= set(e) and "input" not in e for e in errors)
    assert "hunter2" not in response.text


async def test_a_lost_database_connection_is_a_503(client: httpx.AsyncClient) -> None:
    response = await client.get("/database-gone")
    assert (response.status_code, response.json()) == (503, {"detail": "database unavailable"})


async def test_a_value_the_database_refuses_is_a_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/database-refuses-a-value")
    assert (response.status_code, response.json()) == (422, {"detail": "a value cannot be stored"})
