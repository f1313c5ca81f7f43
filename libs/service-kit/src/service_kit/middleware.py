"""ASGI middleware every service runs: the request context, CORS with JSON refusals, HEAD."""

from __future__ import annotations

import functools
import time

from fastapi import Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service_kit.error_handlers import unexpected_error
from service_kit.logging import bind_correlation_id, clear_correlation_id
from service_kit.metrics import observe_request

REQUEST_ID_HEADER = "X-Request-ID"
# Bodies the services accept at most (the gateway allows less); a larger declared body is a 413.
MAX_BODY_BYTES = 1_048_576
_MAX_REQUEST_ID_CHARS = 64
_REQUEST_ID_KEY = REQUEST_ID_HEADER.lower().encode()


class RequestContext:
    """One request's context: its correlation id (the caller's `X-Request-ID`, or a new one)
    bound to the logs and sent back on every answer, the body-size limit, the HTTP metrics.

    It runs inside CORS and answers an unexpected error itself, rather than leaving it to
    Starlette's outermost handler, so that even that answer carries the request id and CORS
    headers and is counted.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        caller_id, declared_length = _request_id_and_length(scope)
        cid = bind_correlation_id(caller_id)
        request_id = (_REQUEST_ID_KEY, cid.encode())
        started = time.perf_counter()
        status: int | None = None

        async def send_with_request_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *(h for h in message.get("headers", ()) if h[0].lower() != _REQUEST_ID_KEY),
                    request_id,
                ]
            await send(message)

        try:
            if declared_length > MAX_BODY_BYTES:
                too_large = JSONResponse({"detail": "request body too large"}, status_code=413)
                await too_large(scope, receive, send_with_request_id)
            else:
                await self.app(scope, receive, send_with_request_id)
                if status is None:
                    raise RuntimeError("the application sent no response")
        except Exception as exc:
            if status is not None:  # the answer is on its way: too late for another one
                raise
            response: Response = unexpected_error(Request(scope), exc)
            await response(scope, receive, send_with_request_id)
        finally:
            clear_correlation_id()
            # the route's template, set on the scope by the router once a route matched
            route = getattr(scope.get("route"), "path", "unmatched")
            elapsed = time.perf_counter() - started
            observe_request(scope["method"], route, status or 500, elapsed)


def _request_id_and_length(scope: Scope) -> tuple[str | None, int]:
    """The caller's request id (when usable) and the declared body length (0 if none), read
    in one pass over the raw headers (ASGI names them in lower case)."""
    incoming, length = "", 0
    for name, value in scope["headers"]:
        if name == _REQUEST_ID_KEY:
            incoming = value.decode("latin-1")
        elif name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                length = 0
    usable = incoming[:_MAX_REQUEST_ID_CHARS] if incoming.isprintable() and incoming else None
    return usable, length


class JSONCORSMiddleware(CORSMiddleware):
    """Starlette's CORS, with its refusal of a preflight as JSON with a `detail`. A request
    without an `Origin` (not a browser's cross-origin call) only gets `Vary: Origin` on its
    answer, as Starlette gives it, without the parsing of its headers for it."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not any(name == b"origin" for name, _ in scope["headers"]):
            await self.app(scope, receive, functools.partial(_vary_on_origin, send=send))
            return
        await super().__call__(scope, receive, send)

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        headers = {
            k: v
            for k, v in response.headers.items()
            if k.lower() not in {"content-length", "content-type"}
        }
        detail = bytes(response.body).decode()
        return JSONResponse({"detail": detail}, status_code=400, headers=headers)


async def _vary_on_origin(message: Message, send: Send) -> None:
    if message["type"] == "http.response.start":
        headers = list(message.get("headers", ()))
        for i, (name, value) in enumerate(headers):
            if name.lower() == b"vary":
                headers[i] = (name, value + b", Origin")
                break
        else:
            headers.append((b"vary", b"Origin"))
        message["headers"] = headers
    await send(message)


class HeadAsGet:
    """HEAD answers like GET, without the body (FastAPI routes only declare GET)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, send_headers_only)
