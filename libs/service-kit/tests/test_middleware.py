"""The request context (request ids, body limit, metrics, the unexpected error), CORS and HEAD."""

from __future__ import annotations

import httpx

from service_kit.logging import get_correlation_id
from service_kit.metrics import HTTP_REQUESTS
from service_kit.middleware import MAX_BODY_BYTES


def _count(status: str, route: str = "/boom", method: str = "GET") -> float:
    value = HTTP_REQUESTS.labels(method, route, status)._value.get()
    return float(value)


class TestRequestContext:
    async def test_an_unexpected_error_is_a_json_500_with_request_id_counted(
        self, client: httpx.AsyncClient
    ) -> None:
        before = _count("500")
        response = await client.get("/boom", headers={"X-Request-ID": "req-42"})
        assert response.status_code == 500
        assert response.json() == {"detail": "internal server error"}
        assert response.headers["x-request-id"] == "req-42"
        assert _count("500") == before + 1

    async def test_a_declared_body_over_the_limit_is_413(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/echo",
            content=b"{}",
            headers={
                "Content-Type": "application/json",
                "Content-Length": str(MAX_BODY_BYTES + 1),
            },
        )
        assert response.status_code == 413
        assert response.json() == {"detail": "request body too large"}

    async def test_the_413_carries_the_request_id_and_counts_as_unmatched(
        self, client: httpx.AsyncClient
    ) -> None:
        before = _count("413", route="unmatched", method="POST")
        response = await client.post(
            "/echo",
            content=b"{}",
            headers={
                "Content-Type": "application/json",
                "Content-Length": str(MAX_BODY_BYTES + 1),
                "X-Request-ID": "req-413",
            },
        )
        assert response.headers["x-request-id"] == "req-413"
        assert _count("413", route="unmatched", method="POST") == before + 1

    async def test_a_request_without_a_usable_id_gets_a_new_one(
        self, client: httpx.AsyncClient
    ) -> None:
        plain = await client.get("/hello")
        unprintable = await client.get("/hello", headers={"X-Request-ID": "a\tb"})
        long = await client.get("/hello", headers={"X-Request-ID": "x" * 100})
        assert len(plain.headers["x-request-id"]) == 32
        assert unprintable.headers["x-request-id"] not in {"", "a\tb"}
        assert long.headers["x-request-id"] == "x" * 64

    async def test_the_request_id_is_the_correlation_id_only_while_the_request_runs(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get("/correlation-id", headers={"X-Request-ID": "req-7"})
        assert response.json() == {"correlation_id": "req-7"}
        assert get_correlation_id() is None


class TestHeadAsGet:
    async def test_head_answers_like_get_without_a_body(self, client: httpx.AsyncClient) -> None:
        get = await client.get("/hello")
        head = await client.head("/hello")
        assert head.status_code == 200
        assert head.content == b""
        assert head.headers["content-length"] == get.headers["content-length"]


class TestCORS:
    async def test_cors_preflight_allows_only_the_configured_origins(
        self, client: httpx.AsyncClient
    ) -> None:
        preflight = {"Access-Control-Request-Method": "GET"}
        allowed = await client.options(
            "/hello", headers={**preflight, "Origin": "http://allowed.example"}
        )
        assert allowed.headers["access-control-allow-origin"] == "http://allowed.example"
        refused = await client.options(
            "/hello", headers={**preflight, "Origin": "https://evil.example"}
        )
        assert refused.status_code == 400
        assert "access-control-allow-origin" not in refused.headers
        assert refused.json()["detail"]

    async def test_an_unexpected_error_carries_the_cors_headers(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get("/boom", headers={"Origin": "http://allowed.example"})
        assert response.status_code == 500
        assert response.headers["access-control-allow-origin"] == "http://allowed.example"
