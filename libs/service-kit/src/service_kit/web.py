"""Install the shared HTTP plumbing on a FastAPI app: request ids, errors, CORS, metrics, docs."""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from importlib.resources import files
from pathlib import Path
from typing import Any

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from redis.asyncio import Redis
from sqlalchemy.exc import DataError, DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service_kit.errors import ServiceError
from service_kit.logging import bind_correlation_id, clear_correlation_id
from service_kit.settings import ServiceSettings

log = structlog.get_logger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
# Bodies the services accept at most (the gateway allows less); a larger declared body is a 413.
MAX_BODY_BYTES = 1_048_576

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests handled", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds", "HTTP request latency", ["method", "route"]
)


def create_service_app(
    title: str, settings: ServiceSettings, lifespan: Callable[[FastAPI], Any]
) -> FastAPI:
    """A FastAPI app with the shared plumbing installed (Swagger UI at /docs, served locally)."""
    app = FastAPI(title=title, version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.settings = settings
    install(app, settings)
    return app


def redis_check(redis: Redis) -> Callable[[], Awaitable[object]]:
    """A readiness check that pings Redis."""

    async def check() -> object:
        return await redis.ping()

    return check


def install(app: FastAPI, settings: ServiceSettings) -> None:
    """Everything a service needs besides its own routes."""
    _install_request_context(app)
    _install_error_handlers(app)
    app.add_middleware(
        JSONCORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=settings.cors_methods,
        allow_headers=settings.cors_headers,
        allow_credentials=settings.cors_allow_credentials,
        expose_headers=[REQUEST_ID_HEADER, "Retry-After"],
    )
    app.add_middleware(HeadAsGet)
    _install_metrics(app)
    _install_offline_docs(app)


class JSONCORSMiddleware(CORSMiddleware):
    """Starlette's CORS, with its refusal of a preflight as JSON with a `detail`."""

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


def _install_request_context(app: FastAPI) -> None:
    @app.middleware("http")
    async def request_context(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        cid = bind_correlation_id(incoming[:64] if incoming.isprintable() and incoming else None)
        started = time.perf_counter()
        try:
            if _declared_length(request) > MAX_BODY_BYTES:
                response: Response = JSONResponse(
                    {"detail": "request body too large"}, status_code=413
                )
            else:
                response = await call_next(request)
        except Exception as exc:
            # Answered here, not by Starlette's outermost handler, so that even an unexpected
            # error carries the request id and CORS headers and is counted in the metrics.
            response = unexpected_error(request, exc)
        finally:
            clear_correlation_id()
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        HTTP_LATENCY.labels(request.method, path).observe(time.perf_counter() - started)
        HTTP_REQUESTS.labels(request.method, path, str(response.status_code)).inc()
        response.headers[REQUEST_ID_HEADER] = cid
        return response


def _declared_length(request: Request) -> int:
    try:
        return int(request.headers.get("content-length", "0"))
    except ValueError:
        return 0


def unexpected_error(request: Request, exc: Exception) -> Response:
    """A lost database connection is a 503; anything else a logged 500. Never a traceback."""
    if _is_connection_failure(exc):
        log.error("database.unavailable", error=type(exc).__name__)
        return JSONResponse({"detail": "database unavailable"}, status_code=503)
    log.error("http.unhandled_error", path=request.url.path, exc_info=exc)
    return JSONResponse({"detail": "internal server error"}, status_code=500)


def _install_error_handlers(app: FastAPI) -> None:
    async def on_service_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, ServiceError)
        return JSONResponse(
            {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )

    async def on_invalid_request(_: Request, exc: Exception) -> Response:
        """FastAPI's 422 list, without echoing the input (it may hold a password, a huge body,
        or values JSON cannot carry, such as NaN or a lone surrogate)."""
        assert isinstance(exc, RequestValidationError)
        return JSONResponse({"detail": [_safe_error(e) for e in exc.errors()]}, status_code=422)

    async def on_data_error(_: Request, exc: Exception) -> Response:
        log.info("database.data_error", error=type(getattr(exc, "orig", exc)).__name__)
        return JSONResponse({"detail": "a value cannot be stored"}, status_code=422)

    async def on_database_error(request: Request, exc: Exception) -> Response:
        return unexpected_error(request, exc)

    app.add_exception_handler(ServiceError, on_service_error)
    app.add_exception_handler(RequestValidationError, on_invalid_request)
    app.add_exception_handler(DataError, on_data_error)
    app.add_exception_handler(DBAPIError, on_database_error)


def _safe_error(error: Any) -> dict[str, Any]:
    kept = {k: v for k, v in dict(error).items() if k not in {"input", "url"}}
    return {k: _json_safe(v) for k, v in kept.items()}


def _json_safe(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return _json_safe(str(value))


def _is_connection_failure(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, (OSError, TimeoutError, ConnectionError, PoolTimeout)):
            return True
        if type(cause).__name__ in {
            "CannotConnectNowError",
            "ConnectionDoesNotExistError",
            "InterfaceError",
        }:
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def _install_metrics(app: FastAPI) -> None:
    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def _install_offline_docs(app: FastAPI) -> None:
    """Swagger UI from assets shipped with the service, so /docs works with no internet."""
    # Swagger UI 5 (OpenAPI 3.1), as shipped inside the fastapi-offline wheel.
    assets = Path(str(files("fastapi_offline") / "static"))
    app.mount("/docs-assets", StaticFiles(directory=assets), name="docs-assets")
    oauth2_redirect_url = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=f"{root}{oauth2_redirect_url}",
            swagger_js_url=f"{root}/docs-assets/swagger-ui-bundle.js",
            swagger_css_url=f"{root}/docs-assets/swagger-ui.css",
            swagger_favicon_url=f"{root}/docs-assets/favicon.png",
            swagger_ui_parameters={"persistAuthorization": True},
        )

    @app.get(oauth2_redirect_url, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()
