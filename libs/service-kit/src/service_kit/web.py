"""Install the shared HTTP plumbing on a FastAPI app: request ids, errors, CORS, metrics, docs."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from importlib.resources import files
from pathlib import Path
from typing import Any

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from redis.asyncio import Redis
from sqlalchemy.exc import DBAPIError, OperationalError

from service_kit.errors import ServiceError
from service_kit.logging import bind_correlation_id, clear_correlation_id
from service_kit.settings import ServiceSettings

log = structlog.get_logger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"

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
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=settings.cors_methods,
        allow_headers=settings.cors_headers,
        allow_credentials=settings.cors_allow_credentials,
        expose_headers=[REQUEST_ID_HEADER, "Retry-After"],
    )
    _install_metrics(app)
    _install_offline_docs(app)


def _install_request_context(app: FastAPI) -> None:
    @app.middleware("http")
    async def request_context(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        cid = bind_correlation_id(incoming[:64] if incoming.isprintable() and incoming else None)
        started = time.perf_counter()
        try:
            response = await call_next(request)
        finally:
            route = request.scope.get("route")
            path = getattr(route, "path", "unmatched")
            elapsed = time.perf_counter() - started
            HTTP_LATENCY.labels(request.method, path).observe(elapsed)
            clear_correlation_id()
        HTTP_REQUESTS.labels(request.method, path, str(response.status_code)).inc()
        response.headers[REQUEST_ID_HEADER] = cid
        return response


def _install_error_handlers(app: FastAPI) -> None:
    async def on_service_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, ServiceError)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)

    async def on_database_down(_: Request, exc: Exception) -> Response:
        log.error("database.unavailable", error=type(exc).__name__)
        return JSONResponse({"detail": "database unavailable"}, status_code=503)

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        if _is_connection_failure(exc):
            return await on_database_down(request, exc)
        log.exception("http.unhandled_error", path=request.url.path)
        return JSONResponse({"detail": "internal server error"}, status_code=500)

    app.add_exception_handler(ServiceError, on_service_error)
    app.add_exception_handler(OperationalError, on_database_down)
    app.add_exception_handler(DBAPIError, on_unexpected)
    app.add_exception_handler(OSError, on_database_down)
    app.add_exception_handler(TimeoutError, on_database_down)
    app.add_exception_handler(Exception, on_unexpected)


def _is_connection_failure(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, (OSError, TimeoutError, ConnectionError)):
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
