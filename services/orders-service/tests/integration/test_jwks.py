"""Keys from a JWKS served over real HTTP (a small uvicorn server standing in for auth-service):
start-up without auth, background retry, refresh on an unknown kid (rate-limited, never on the
request path), periodic refresh dropping a retired key."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from tests.support import (
    MakeApp,
    SigningKey,
    bearer,
    client_for,
    ed25519_key,
    eventually_async,
    jwks,
    mint,
    rsa_key,
)

USER = 601


class JwksServer:
    """Serves `document` at /.well-known/jwks.json; its socket is reserved before it listens, so
    until `start()` a fetch is refused like a stopped auth-service."""

    def __init__(self) -> None:
        self.document: dict[str, Any] = {"keys": []}
        self.fetches = 0
        self.delay = 0.0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.server: uvicorn.Server | None = None
        self.task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        host, port = self.sock.getsockname()
        return f"http://{host}:{port}/.well-known/jwks.json"

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/.well-known/jwks.json")
        async def keys() -> JSONResponse:
            self.fetches += 1
            await asyncio.sleep(self.delay)
            return JSONResponse(self.document)

        return app

    async def start(self) -> None:
        config = uvicorn.Config(self.app(), log_config=None, lifespan="off", access_log=False)
        self.server = uvicorn.Server(config)
        self.task = asyncio.create_task(self.server.serve(sockets=[self.sock]))
        server = self.server

        async def started() -> bool:  # uvicorn offers no event to wait on
            return server.started

        await eventually_async(started, 10, "the JWKS server starting", interval=0.01)

    async def stop(self) -> None:
        if self.server is not None and self.task is not None:
            self.server.should_exit = True
            await self.task
        self.sock.close()


@pytest.fixture
async def jwks_server() -> AsyncIterator[JwksServer]:
    server = JwksServer()
    yield server
    await server.stop()


async def eventually_status(
    client: httpx.AsyncClient, token: str, status: int, seconds: float = 10
) -> None:
    async def answered() -> bool:
        response = await client.get(f"/orders/user/{USER}/", headers=bearer(token))
        return response.status_code == status

    await eventually_async(answered, seconds, f"a {status} for the token", interval=0.1)


def jwks_settings(server: JwksServer, **overrides: Any) -> dict[str, Any]:
    return {"jwt_public_key_file": None, "jwks_url": server.url, **overrides}


async def test_start_up_does_not_need_auth_and_keys_arrive_in_the_background(
    make_app: MakeApp, jwks_server: JwksServer
) -> None:
    key = ed25519_key()
    jwks_server.document = jwks(key)

    app = await make_app(**jwks_settings(jwks_server))  # auth-service is "down": refused
    async with client_for(app) as client:
        started = time.perf_counter()
        response = await client.get(f"/orders/user/{USER}/", headers=bearer(mint(key, USER)))
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert time.perf_counter() - started < 0.5  # no key fetch on the request path

        await jwks_server.start()
        await eventually_status(client, mint(key, USER), 200)


async def test_an_unknown_kid_triggers_one_background_refresh(
    make_app: MakeApp, jwks_server: JwksServer
) -> None:
    old, new = ed25519_key(), ed25519_key()
    jwks_server.document = jwks(old)
    await jwks_server.start()
    app = await make_app(**jwks_settings(jwks_server, jwks_min_refresh_interval_seconds=30))
    async with client_for(app) as client:
        await eventually_status(client, mint(old, USER), 200)
        assert jwks_server.fetches == 1  # at start-up

        # auth-service rotates to a new key; its JWKS is slow to answer
        jwks_server.document = jwks(old, new)
        jwks_server.delay = 1.0
        token = mint(new, USER)
        started = time.perf_counter()
        responses = await asyncio.gather(
            *(client.get(f"/orders/user/{USER}/", headers=bearer(token)) for _ in range(20))
        )
        assert time.perf_counter() - started < 0.9  # nobody waited for the slow fetch
        assert {r.status_code for r in responses} == {401}

        await eventually_status(client, token, 200)
        assert jwks_server.fetches == 2  # twenty unknown-kid requests, one refresh

        # another unknown kid within the interval: no fetch at all
        stranger = ed25519_key()
        for _ in range(5):
            response = await client.get(
                f"/orders/user/{USER}/", headers=bearer(mint(stranger, USER))
            )
            assert response.status_code == 401
        await asyncio.sleep(0.2)
        assert jwks_server.fetches == 2


async def test_a_key_removed_from_the_jwks_stops_verifying_after_a_refresh(
    make_app: MakeApp, jwks_server: JwksServer
) -> None:
    retired: SigningKey = ed25519_key()
    current = ed25519_key()
    jwks_server.document = jwks(retired, current)
    await jwks_server.start()
    app = await make_app(**jwks_settings(jwks_server, jwks_refresh_seconds=0.3))
    async with client_for(app) as client:
        await eventually_status(client, mint(retired, USER), 200)

        jwks_server.document = jwks(current)

        await eventually_status(client, mint(retired, USER), 401, seconds=5)
        await eventually_status(client, mint(current, USER), 200)


async def test_keys_for_algorithms_outside_the_allow_list_are_ignored(
    make_app: MakeApp, jwks_server: JwksServer
) -> None:
    key = rsa_key()
    jwks_server.document = jwks(key)
    await jwks_server.start()
    app = await make_app(**jwks_settings(jwks_server, jwt_algorithms=["EdDSA"]))
    async with client_for(app) as client:
        response = await client.get(f"/orders/user/{USER}/", headers=bearer(mint(key, USER)))
        assert response.status_code == 401
