"""A small app with the shared plumbing installed, and routes that answer in each way it handles."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import DataError, DBAPIError

from service_kit.app import create_service_app
from service_kit.errors import NotFound
from service_kit.logging import get_correlation_id
from service_kit.settings import ServiceSettings

ALLOWED_ORIGIN = "http://allowed.example"


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str
    amount: float


@asynccontextmanager
async def _lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield


def kit_app() -> FastAPI:
    settings = ServiceSettings(
        database_url="postgresql+asyncpg://u:p@127.0.0.1:1/x",
        cors_origins=[ALLOWED_ORIGIN],
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

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @app.get("/correlation-id")
    async def correlation_id() -> dict[str, str | None]:
        return {"correlation_id": get_correlation_id()}

    @app.get("/database-gone")
    async def database_gone() -> None:
        raise DBAPIError("SELECT 1", None, ConnectionResetError(), connection_invalidated=True)

    @app.get("/database-refuses-a-value")
    async def database_refuses_a_value() -> None:
        raise DataError("INSERT …", None, ValueError("value too long"))

    return app


def client_for(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")
