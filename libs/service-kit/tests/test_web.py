"""The shared HTTP plumbing on a small app: error shapes, request ids, CORS, HEAD, limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict

from service_kit.errors import NotFound
from service_kit.settings import ServiceSettings
from service_kit.web import HTTP_REQUESTS, MAX_BODY_BYTES, create_service_app


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str
    amount: float


@asynccontextmanager
async def _lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield


def _app() -> FastAPI:
    settings = ServiceSettings(
        database_url="postgresql+asyncpg://u:p@127.0.0.1:1/x",
        cors_origins=["http://allowed.example"],
    )
    app = create_service_app("kit-test", settings, _lifespan)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("unexpected")

    @app.get("/missing")
    async def missing() -> None:
        raise NotFound("no such thing")

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    @app.post("/echo")
    async def echo(body: Body) -> dict[str, str]:
        return {"ok": "yes"}

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


def _count(status: str) -> float:
    value = HTTP_REQUESTS.labels("GET", "/boom", status)._value.get()
    return float(value)


async def test_an_unexpected_error_is_a_json_500_with_request_id_counted(
    client: httpx.AsyncClient,
) -> None:
    before = _count("500")
    response = await client.get("/boom", headers={"X-Request-ID": "req-42"})
    assert response.status_code == 500
    assert response.json() == {"detail": "internal server error"}
    assert response.headers["x-request-id"] == "req-42"
    assert _count("500") == before + 1


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


async def test_a_declared_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/echo",
        content=b"{}",
        headers={"Content-Type": "application/json", "Content-Length": str(MAX_BODY_BYTES + 1)},
    )
    assert response.status_code == 413
    assert response.json() == {"detail": "request body too large"}


async def test_head_answers_like_get_without_a_body(client: httpx.AsyncClient) -> None:
    get = await client.get("/hello")
    head = await client.head("/hello")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"]


async def test_cors_preflight_allows_only_the_configured_origins(
    client: httpx.AsyncClient,
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


async def test_docs_are_served_from_local_assets(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    assert "/docs-assets/swagger-ui-bundle.js" in page.text
    assert (await client.get("/docs-assets/swagger-ui-bundle.js")).status_code == 200


def test_wildcard_origins_with_credentials_are_refused() -> None:
    with pytest.raises(ValueError, match="credentials"):
        ServiceSettings(database_url="x", cors_origins=["*"], cors_allow_credentials=True)


def test_development_values_are_refused_outside_dev() -> None:
    with pytest.raises(ValueError, match="development default"):
        ServiceSettings(database_url="postgresql://u:dev-only-pw@h/db", environment="prod")
